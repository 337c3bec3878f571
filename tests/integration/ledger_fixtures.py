"""Helpers shared by the ledger and contract tests: a fresh token + training per test on the shared chain.

Each test deploys its own contracts, so tests never see each other's queue or rewards while
sharing one Anvil (deploying costs milliseconds there).
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from kafkaml.ledger import AggregatorLedger, PlatformLedger, TrainerLedger, UpdateOutcome, WeightsPointer
from kafkaml.ledger.signed import SignedLedger
from kafkaml.local.accounts import new_account
from kafkaml.local.stack import Stack
from kafkaml.topics import update_topic

WEIGHTS_TOPIC = "test-weights"
_counter = itertools.count()


def digest(label: str) -> bytes:
    """A content hash no other call returns (the label keeps failures readable)."""
    return hashlib.sha256(f"{label}-{next(_counter)}".encode()).digest()


def global_pointer(index: int) -> WeightsPointer:
    return WeightsPointer(WEIGHTS_TOPIC, 0, 3 * index, 3 * index + 3)


def update_pointer(index: int, client: str) -> WeightsPointer:
    """Where client ``client`` (an address) keeps update ``index``: its own update topic."""
    return WeightsPointer(update_topic(WEIGHTS_TOPIC, client), 1, 2 * index, 2 * index + 2)


@dataclass
class Training:
    """One deployed training: the aggregator's ledger and one ledger per client account."""

    aggregator: AggregatorLedger
    clients: list[TrainerLedger]
    outsider: TrainerLedger  # an account that is never registered
    admin: AggregatorLedger  # the platform admin's view: it created the training and can act on none of it

    def submit(self, client: int, content_hash: bytes, base: int | None = None, samples: int = 100) -> None:
        ledger = self.clients[client]
        version = ledger.latest_version().version if base is None else base
        ledger.submit_update(version, content_hash, update_pointer(client, ledger.account), samples)

    def round(self, *outcomes: UpdateOutcome) -> int:
        return self.aggregator.record_round(digest("global"), global_pointer(1), list(outcomes))


def deploy(
    stack: Stack,
    *,
    rounds: int = 16,
    register: bool = True,
    start: bool = True,
    token: str | None = None,
    budget: int = 10**27,
    ceiling: int = 1000,
) -> Training:
    rpc_url = stack.chain.address
    platform_key = stack.account("platform").private_key()
    token = token or PlatformLedger.deploy_token(rpc_url, platform_key)
    aggregator_account = new_account(Path(tempfile.mkdtemp()) / "aggregator.key")
    PlatformLedger.fund(rpc_url, platform_key, aggregator_account.address, 10**18)
    address = PlatformLedger.create_training(
        rpc_url,
        platform_key,
        token_address=token,
        aggregator=aggregator_account.address,
        settings_hash=digest("settings"),
        weights_topic=WEIGHTS_TOPIC,
        strategy="fedavg",
        rounds=rounds,
        budget=budget,
    )
    aggregator = AggregatorLedger.open(rpc_url, address, aggregator_account.private_key())
    names = [f"client-{n}" for n in range(1, stack.client_count + 1)]
    clients = [TrainerLedger.open(rpc_url, address, stack.account(n).private_key()) for n in names[:-1]]
    outsider = TrainerLedger.open(rpc_url, address, stack.account(names[-1]).private_key())
    if register:
        aggregator.register_clients({c.account: ceiling for c in clients})
    if register and start:
        aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    return Training(aggregator, clients, outsider, AggregatorLedger.open(rpc_url, address, platform_key))


def key_of(ledger: SignedLedger) -> str:
    """The private key a test's ledger signs with (e.g. to open a second view of the aggregator)."""
    return ledger.sender.account.key.hex()


def as_aggregator(ledger: SignedLedger) -> AggregatorLedger:
    """The same account sending the aggregator's calls: what the contract must refuse to anyone else."""
    return AggregatorLedger(ledger.rpc, ledger.sender, ledger.address)


def as_trainer(ledger: SignedLedger) -> TrainerLedger:
    """The same account sending a client's calls."""
    return TrainerLedger(ledger.rpc, ledger.sender, ledger.address)


def foreign_clone(
    deployer: SignedLedger,
    implementation: str,
    *,
    aggregator: str,
    token: str,
    rounds: int = 5,
    created_block: int = 1,
    budget: int = 10**27,
) -> str:
    """An EIP-1167 clone of ``implementation`` with a training's immutable arguments, deployed by
    ``deployer`` with a plain contract-creation transaction: outside the factory, so never
    initialised and never granted the minter role. Returns its address."""
    args = (
        bytes.fromhex(aggregator[2:])
        + bytes.fromhex(token[2:])
        + rounds.to_bytes(4, "big")
        + created_block.to_bytes(8, "big")
        + digest("foreign-settings")
        + budget.to_bytes(12, "big")
    )
    runtime = (
        bytes.fromhex("363d3d373d3d3d363d73")
        + bytes.fromhex(implementation[2:])
        + bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
        + args
    )
    # PUSH2 len, RETURNDATASIZE, DUP2, PUSH1 0x0a, RETURNDATASIZE, CODECOPY, RETURN: return the runtime.
    initcode = (
        bytes.fromhex("61") + len(runtime).to_bytes(2, "big") + bytes.fromhex("3d81600a3d39f3") + runtime
    )
    receipt = deployer.sender.transact({"data": "0x" + initcode.hex()}, "deploy a clone outside the factory")
    return Web3.to_checksum_address(receipt["contractAddress"])
