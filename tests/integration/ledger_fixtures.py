"""Helpers shared by the ledger and contract tests: a fresh token + training per test on the shared chain.

Each test deploys its own contracts, so tests never see each other's queue or rewards while
sharing one Anvil (deploying costs milliseconds there).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

from kafkaml.ledger import Ledger, UpdateOutcome, WeightsPointer
from kafkaml.local.stack import Stack

WEIGHTS_TOPIC = "test-weights"
_counter = itertools.count()


def digest(label: str) -> bytes:
    """A content hash no other call returns (the label keeps failures readable)."""
    return hashlib.sha256(f"{label}-{next(_counter)}".encode()).digest()


def global_pointer(index: int) -> WeightsPointer:
    return WeightsPointer(WEIGHTS_TOPIC, 0, 3 * index, 3 * index + 3)


def update_pointer(index: int) -> WeightsPointer:
    return WeightsPointer("test-updates", 1, 2 * index, 2 * index + 2)


@dataclass
class Training:
    """One deployed training: the aggregator's ledger and one ledger per client account."""

    aggregator: Ledger
    clients: list[Ledger]
    outsider: Ledger  # an account that is never registered

    def submit(self, client: int, content_hash: bytes, base: int | None = None) -> None:
        ledger = self.clients[client]
        version = ledger.latest_version().version if base is None else base
        ledger.submit_update(version, content_hash, update_pointer(client), 100)

    def round(self, *outcomes: UpdateOutcome) -> int:
        return self.aggregator.record_round(digest("global"), global_pointer(1), list(outcomes))


def deploy(
    stack: Stack, *, rounds: int = 16, register: bool = True, start: bool = True, token: str | None = None
) -> Training:
    rpc_url = stack.chain.address
    platform_key = stack.account("platform").private_key()
    token = token or Ledger.deploy_token(rpc_url, platform_key)
    aggregator = Ledger.deploy(
        rpc_url,
        platform_key,
        token_address=token,
        settings_hash=digest("settings"),
        weights_topic=WEIGHTS_TOPIC,
        strategy="fedavg",
        rounds=rounds,
    )
    names = [f"client-{n}" for n in range(1, stack.client_count + 1)]
    clients = [Ledger.open(rpc_url, aggregator.address, stack.account(n).private_key()) for n in names[:-1]]
    outsider = Ledger.open(rpc_url, aggregator.address, stack.account(names[-1]).private_key())
    if register:
        aggregator.register_clients([c.account for c in clients])
    if register and start:
        aggregator.start(digest("genesis"), global_pointer(0))
    return Training(aggregator, clients, outsider)
