"""The facts the ledger records, as plain Python values shared by the client, the audit and the engine.

Kept apart from the web3 code so that callers (the training engine, ``kafkaml audit``, the
backend) can type against them and serialise them without importing a node connection.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from kafkaml.pointers import WeightsPointer, check_hash

REASON_BYTES = 32
#: The contract tells rewards from reasons by size: a verdict word below 2^88 is a reward.
MAX_REWARD = 2**88 - 1
#: A training's reward budget is a 96-bit immutable argument of its clone.
MAX_BUDGET = 2**96 - 1


class Phase(enum.IntEnum):
    """The training's lifecycle on chain (same numbering as the contract's enum; UNINITIALIZED
    exists only inside the transaction that creates a training)."""

    UNINITIALIZED = 0
    CONFIGURED = 1
    ACTIVE = 2
    FINISHED = 3


@dataclass(frozen=True)
class Platform:
    """The contracts a platform deploys once and every training shares."""

    factory: str  # TrainingFactory: creates the trainings
    token: str  # RewardToken: pays their rewards
    implementation: str  # FederatedLearning: the code every training's clone delegates to


@dataclass(frozen=True)
class TrainingInfo:
    """What the contract was created with (from its ``TrainingConfigured`` event)."""

    address: str
    aggregator: str
    token: str
    settings_hash: bytes
    weights_topic: str
    strategy: str
    rounds: int
    created_block: int
    budget: int  # the most the training can ever credit, in token base units


@dataclass(frozen=True)
class GlobalVersion:
    version: int
    content_hash: bytes
    pointer: WeightsPointer


@dataclass(frozen=True)
class ClientState:
    """What a client's trainer polls while it waits, read in one call (``clientView``)."""

    phase: Phase
    latest: GlobalVersion | None  # None before the genesis
    pending: bool  # an update of the client waits in the queue


@dataclass(frozen=True)
class SubmittedUpdate:
    """One queued update as its ``UpdateSubmitted`` event recorded it; ``seq`` is its queue position."""

    seq: int
    client: str
    base_version: int
    content_hash: bytes
    pointer: WeightsPointer
    samples: int
    block: int
    tx_hash: bytes


@dataclass(frozen=True)
class UpdateOutcome:
    """The aggregator's verdict on one queued update; ``reason`` says why a rejected one was rejected.

    ``client`` and ``pointer``, when given, name the submission with the hash: two clients may
    queue the same hash (one copied it), so the engine always names them and ``record_round``
    refuses a round whose queue holds another submission at that place."""

    content_hash: bytes
    accepted: bool
    reward: int = 0
    reason: str = ""
    client: str = ""
    pointer: WeightsPointer | None = None

    def __post_init__(self) -> None:
        check_hash(self.content_hash)
        if not 0 <= self.reward <= MAX_REWARD:
            raise ValueError(f"a reward is between 0 and {MAX_REWARD} base units, not {self.reward}")
        if self.accepted and self.reason:
            raise ValueError("an accepted update carries no rejection reason")
        if not self.accepted and self.reward:
            raise ValueError("a rejected update cannot earn a reward")
        if len(self.reason.encode()) > REASON_BYTES or not (self.reason.isascii() and self.reason.isprintable()):
            raise ValueError(
                f"a rejection reason is at most {REASON_BYTES} printable ASCII characters: {self.reason!r}"
            )

    def judges(self, update: SubmittedUpdate) -> bool:
        """Whether this is the verdict on ``update``: its hash, and its client and pointer when named."""
        return (update.content_hash == self.content_hash
                and (not self.client or update.client.lower() == self.client.lower())
                and (self.pointer is None or update.pointer == self.pointer))

    def verdict(self) -> bytes:
        """The contract's one-word verdict: the reward of an accepted update (below 2^88), or the
        left-aligned reason (default "rejected") of a rejected one."""
        if self.accepted:
            return self.reward.to_bytes(REASON_BYTES, "big")
        return (self.reason or "rejected").encode().ljust(REASON_BYTES, b"\0")


def decode_verdict(word: bytes) -> tuple[bool, int, str]:
    """``(accepted, reward, reason)`` from a verdict word (see :meth:`UpdateOutcome.verdict`)."""
    value = int.from_bytes(word, "big")
    if value <= MAX_REWARD:
        return True, value, ""
    return False, 0, word.rstrip(b"\0").decode("ascii", errors="replace")


@dataclass
class AuditedUpdate:
    """An update in the history: what was submitted and, once aggregated, the verdict."""

    seq: int
    client: str
    content_hash: bytes
    base_version: int
    samples: int
    pointer: WeightsPointer
    submitted_block: int
    version: int | None = None  # the global version it was aggregated into
    staleness: int | None = None  # (version - 1) - base_version: versions published since its base
    accepted: bool | None = None
    reward: int = 0
    reason: str = ""


@dataclass
class AuditedVersion:
    version: int
    content_hash: bytes
    pointer: WeightsPointer
    timestamp: int
    block: int
    tx_hash: bytes
    updates: list[AuditedUpdate] = field(default_factory=list)


@dataclass
class Audit:
    """A training's whole history, rebuilt from its events alone."""

    training: TrainingInfo
    phase: Phase
    clients: list[str]
    versions: list[AuditedVersion]
    pending: list[AuditedUpdate]
    earned: dict[str, int]
    paid: dict[str, int]
    sample_ceilings: dict[str, int] = field(default_factory=dict)
    announcement_hash: bytes | None = None  # recorded when the training started

    @property
    def credited(self) -> int:
        return sum(self.earned.values())

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self) | {"phase": self.phase.name.lower()})


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
