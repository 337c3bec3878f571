"""Blockchain coordination: the training's contract, through :mod:`kafkaml.ledger`.

The platform creates the training on chain (through its factory, with the admin key) before
the jobs start, for an aggregator account of the training's own: the aggregator job opens it
with that account's key, checks that it was created for this job's settings, registers the
clients with their sample ceilings, records the announcement's hash when it starts the training
and every round in one transaction. Trainers sign their submissions with their own keys, and
trust a training (and its announcement) only when the platform's factory created it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter

from kafkaml.config import ConfigError
from kafkaml.faults import fault_point
from kafkaml.ledger import AggregatorLedger, TrainerLedger, TrainingReader, errors
from kafkaml.ledger.records import Phase, UpdateOutcome
from kafkaml.messages.kinds import BlockchainInfo
from kafkaml.pointers import WeightsPointer
from kafkaml.rewards import rejection_counts
from training_worker.coordination.base import (
    ClientCoordinator,
    ClientView,
    Outcome,
    PlatformCoordinator,
    QueuedUpdate,
    TrainingClosed,
    UpdateRefused,
    Version,
)
from training_worker.settings import AggregatorSettings, ChainSettings, TrainerSettings

log = logging.getLogger(__name__)


def _version(ledger: TrainingReader) -> Version | None:
    """The newest version (one RPC call; trainers poll it), or None before the genesis."""
    try:
        latest = ledger.latest_version()
    except errors.WrongPhase:
        return None
    return Version(latest.version, latest.content_hash, latest.pointer)


class ChainPlatform(PlatformCoordinator):
    def __init__(self, ledger: AggregatorLedger, chain: ChainSettings) -> None:
        self.ledger = ledger
        self.chain = chain
        self.identity = ledger.address

    @classmethod
    def open(cls, settings: AggregatorSettings, weights_topic: str) -> ChainPlatform:
        """The training the platform created for this job; refused unless this job's key is its
        aggregator and its settings hash is this job's."""
        chain = settings.chain
        assert chain is not None and chain.contract_address, "blockchain coordination without a contract"
        ledger = AggregatorLedger.open(chain.rpc_url, chain.contract_address, chain.private_key)
        info = ledger.info()
        if info.aggregator != ledger.account:
            raise ConfigError(f"ETH_CONTRACT_ADDRESS={ledger.address} is aggregated by {info.aggregator}, not by "
                              f"this job's key ({ledger.account})")
        if info.settings_hash != settings.settings_hash:
            raise ConfigError(f"the training {ledger.address} was created for other settings (settings hash "
                              f"0x{info.settings_hash.hex()[:16]}…, this job's 0x{settings.settings_hash.hex()[:16]}…)")
        if info.weights_topic != weights_topic:
            raise ConfigError(f"the training {ledger.address} keeps its versions in {info.weights_topic!r}, "
                              f"not {weights_topic!r}")
        log.info("opened training contract %s", ledger.address)
        ledger.register_clients(settings.client_ceilings)
        return cls(ledger, chain)

    def blockchain_info(self) -> BlockchainInfo:
        return BlockchainInfo(self.chain.rpc_url, self.chain.chain_id, self.ledger.address)

    def start(self, genesis_hash: bytes, pointer: WeightsPointer, announcement_hash: bytes) -> Version:
        if self.ledger.phase() == Phase.CONFIGURED:
            self.ledger.start(genesis_hash, pointer, announcement_hash)
        latest = _version(self.ledger)
        assert latest is not None
        return latest

    def announcement_hash(self) -> bytes | None:
        return self.ledger.announcement_hash()

    def last_transaction(self) -> dict | None:
        return self.ledger.last_transaction

    def latest(self) -> Version | None:
        return _version(self.ledger)

    def version(self, number: int) -> Version:
        latest = _version(self.ledger)
        if latest is not None and latest.number == number:
            return latest
        for audited in self.ledger.history().versions:
            if audited.version == number:
                return Version(audited.version, audited.content_hash, audited.pointer)
        raise LookupError(f"global version {number} was never published by {self.ledger.address}")

    def wait_for_updates(self, minimum: int, timeout_s: float) -> list[QueuedUpdate]:
        try:
            pending = self.ledger.wait_for_updates(minimum, timeout_s)
        except TimeoutError:
            pending = self.ledger.pending_updates()
        return [QueuedUpdate(u.client, u.base_version, u.content_hash, u.pointer, u.samples) for u in pending]

    def accepted_hashes(self) -> set[bytes]:
        return {update.content_hash for version in self.ledger.history().versions for update in version.updates
                if update.accepted}

    def rejections(self) -> Counter[str]:
        audit = self.ledger.history()
        judged = [update for version in audit.versions for update in version.updates] + audit.pending
        return rejection_counts((u.client, bool(u.accepted), u.reason) for u in judged if u.accepted is not None)

    def record_round(self, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        number = self.ledger.record_round(content_hash, pointer, [
            UpdateOutcome(o.content_hash, o.accepted, o.reward, o.reason, client=o.client, pointer=o.pointer)
            for o in outcomes])
        return Version(number, content_hash, pointer)

    def record_rejections(self, outcomes: list[Outcome]) -> list[Outcome]:
        head = []
        for update, outcome in zip(self.ledger.pending_updates(), outcomes, strict=False):
            verdict = UpdateOutcome(outcome.content_hash, False, 0, outcome.reason, client=outcome.client,
                                    pointer=outcome.pointer)
            if not verdict.judges(update):
                break
            head.append((outcome, verdict))
        if head:
            self.ledger.record_rejections([verdict for _, verdict in head])
        return [outcome for outcome, _ in head]

    def finish(self) -> None:
        if self.ledger.phase() == Phase.ACTIVE:
            self.ledger.finish()
            fault_point("aggregator.after_finish")
        self.ledger.pay_rewards()

    def rewards(self) -> dict[str, int]:
        return {client: self.ledger.rewards_of(client) for client in self.ledger.clients()}

    def credited(self) -> int:
        return self.ledger.credited()

    def is_finished(self) -> bool:
        return self.ledger.phase() == Phase.FINISHED


class ChainClient(ClientCoordinator):
    def __init__(self, ledger: TrainerLedger) -> None:
        self.ledger = ledger
        self._announcement_hash: bytes | None = None  # recorded once, at start: read it once

    @classmethod
    def open(cls, settings: TrainerSettings) -> ChainClient:
        chain = settings.chain
        assert chain is not None and chain.contract_address, "blockchain coordination without a contract"
        ledger = TrainerLedger.open(chain.rpc_url, chain.contract_address, chain.private_key)
        platform = ledger.platform()  # raises unless the factory behind the token created it
        if chain.token_address and platform.token.lower() != chain.token_address.lower():
            raise ConfigError(f"the training {ledger.address} belongs to the platform of token {platform.token}, "
                              f"not ETH_TOKEN_ADDRESS={chain.token_address}")
        return cls(ledger)

    def trusts_announcement(self, raw: bytes) -> bool:
        """Whether ``raw`` is the announcement whose hash the training recorded when it started."""
        if self._announcement_hash is None:
            self._announcement_hash = self.ledger.announcement_hash()
        return self._announcement_hash is not None and hashlib.sha256(raw).digest() == self._announcement_hash

    @property
    def identity(self) -> str:
        assert self.ledger.account is not None, "a client ledger signs with its own key"
        return self.ledger.account.lower()

    def view(self) -> ClientView:
        state = self.ledger.client_state(self.identity)
        latest = None if state.latest is None else Version(state.latest.version, state.latest.content_hash,
                                                            state.latest.pointer)
        return ClientView(latest, state.phase == Phase.ACTIVE, state.pending)

    def pause(self, seconds: float) -> None:
        self.ledger.wait_for_event(seconds)

    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        try:
            self.ledger.submit_update(base_version, content_hash, pointer, samples)
        except errors.WrongPhase as exc:
            raise TrainingClosed(str(exc)) from None
        except (errors.UpdatePending, errors.NotRegisteredClient) as exc:
            raise UpdateRefused(str(exc)) from None
