"""Blockchain coordination: the training's contract, through :mod:`kafkaml.ledger`.

The aggregator deploys the training (or reopens it after a restart: the address is kept in the
results directory and may be given as ETH_CONTRACT_ADDRESS), registers the clients, and records
every round in one transaction. Trainers sign their submissions with their own keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from kafkaml.ledger import errors
from kafkaml.ledger.client import Ledger
from kafkaml.ledger.records import Phase, UpdateOutcome
from kafkaml.pointers import WeightsPointer
from kafkaml.schemas import BlockchainInfo
from training_worker.coordination.base import (
    ClientCoordinator,
    Outcome,
    PlatformCoordinator,
    QueuedUpdate,
    TrainingClosed,
    Version,
)
from training_worker.settings import AggregatorSettings, ChainSettings, TrainerSettings

log = logging.getLogger(__name__)

CONTRACT_FILE = "contract.json"


def settings_hash(settings: AggregatorSettings, weights_topic: str) -> bytes:
    """SHA-256 of what defines the training, recorded on chain so auditors can check the settings."""
    described = {
        "model_id": settings.federated_string_id,
        "model_architecture_sha256": hashlib.sha256(settings.model.architecture.encode()).hexdigest(),
        "compile_config": settings.model.compile_config,
        "strategy": settings.strategy.describe(), "rounds": settings.rounds, "weights_topic": weights_topic,
        "reward_policy": {"name": settings.reward_policy.name, "base": str(settings.reward_policy.base),
                          "reject_ratio": settings.reward_policy.reject_ratio},
        "epochs": settings.training.epochs, "batch": settings.training.batch,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, separators=(",", ":")).encode()).digest()


def _version(ledger: Ledger) -> Version | None:
    """The newest version (one RPC call; trainers poll it), or None before the genesis."""
    try:
        latest = ledger.latest_version()
    except errors.WrongPhase:
        return None
    return Version(latest.version, latest.content_hash, latest.pointer)


class ChainPlatform(PlatformCoordinator):
    def __init__(self, ledger: Ledger, chain: ChainSettings) -> None:
        self.ledger = ledger
        self.chain = chain
        self.identity = ledger.address

    @classmethod
    def open_or_deploy(cls, settings: AggregatorSettings, weights_topic: str) -> ChainPlatform:
        chain = settings.chain
        assert chain is not None, "blockchain coordination without chain settings"
        record = Path(settings.results.directory) / CONTRACT_FILE
        address = chain.contract_address
        if address is None and record.exists():
            address = json.loads(record.read_text())["address"]
        if address is not None:
            ledger = Ledger.open(chain.rpc_url, address, chain.private_key)
            log.info("reopened training contract %s", address)
        else:
            token = settings.token_address or Ledger.deploy_token(chain.rpc_url, chain.private_key)
            if not settings.token_address:
                log.warning("ETH_TOKEN_ADDRESS is not set: deployed a reward token %s for this training only", token)
            ledger = Ledger.deploy(chain.rpc_url, chain.private_key, token_address=token,
                                   settings_hash=settings_hash(settings, weights_topic), weights_topic=weights_topic,
                                   strategy=settings.strategy.description_json(), rounds=settings.rounds)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"address": ledger.address, "token": token}))
        ledger.register_clients(settings.client_addresses)
        return cls(ledger, chain)

    def blockchain_info(self) -> BlockchainInfo:
        return BlockchainInfo(self.chain.rpc_url, self.chain.chain_id, self.ledger.address)

    def start(self, genesis_hash: bytes, pointer: WeightsPointer) -> Version:
        if self.ledger.phase() == Phase.CONFIGURED:
            self.ledger.start(genesis_hash, pointer)
        latest = _version(self.ledger)
        assert latest is not None
        return latest

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

    def record_round(self, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        number = self.ledger.record_round(content_hash, pointer, [
            UpdateOutcome(o.content_hash, o.accepted, o.reward, o.reason) for o in outcomes])
        return Version(number, content_hash, pointer)

    def finish(self) -> None:
        if self.ledger.phase() == Phase.ACTIVE:
            self.ledger.finish()
        self.ledger.pay_rewards()

    def rewards(self) -> dict[str, int]:
        return {client: self.ledger.rewards_of(client) for client in self.ledger.clients()}

    def is_finished(self) -> bool:
        return self.ledger.phase() == Phase.FINISHED


class ChainClient(ClientCoordinator):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        #: This process's last submission: whether it is still queued is then one call, not a
        #: scan of the queue's events (trainers ask on every poll while they wait for a version).
        self._last_submitted: bytes | None = None

    @classmethod
    def open(cls, settings: TrainerSettings) -> ChainClient:
        chain = settings.chain
        assert chain is not None and chain.contract_address, "blockchain coordination without a contract"
        return cls(Ledger.open(chain.rpc_url, chain.contract_address, chain.private_key))

    @property
    def identity(self) -> str:
        assert self.ledger.account is not None, "a client ledger signs with its own key"
        return self.ledger.account.lower()

    def is_active(self) -> bool:
        return self.ledger.is_active()

    def latest(self) -> Version | None:
        return _version(self.ledger)

    def has_queued_update(self) -> bool:
        if self._last_submitted is not None:
            return not self.ledger.is_consumed(self._last_submitted)
        return any(update.client == self.ledger.account for update in self.ledger.pending_updates())

    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        try:
            self.ledger.submit_update(base_version, content_hash, pointer, samples)
            self._last_submitted = content_hash
        except errors.WrongPhase as exc:
            raise TrainingClosed(str(exc)) from None
