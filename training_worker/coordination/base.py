"""What the engine needs from a coordinator, whatever carries the coordination.

The aggregator and the trainer run the same rounds in both modes; only these two interfaces
differ: the blockchain coordinator talks to the training's contract (the paper's system), the
classic one to a Kafka control topic (the earlier Kafka-ML), so the two can be compared on the
same workload.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kafkaml.messages.kinds import BlockchainInfo, Submission
from kafkaml.messages.kinds import RoundOutcome as Outcome  # the verdict on one consumed update
from kafkaml.pointers import WeightsPointer

__all__ = ["ClientCoordinator", "ClientView", "Outcome", "PlatformCoordinator", "QueuedUpdate", "Submission", "TrainingClosed",
           "UpdateRefused", "Version"]


@dataclass(frozen=True)
class Version:
    """A global model version: its number, content hash and where its weights live."""

    number: int
    content_hash: bytes
    pointer: WeightsPointer


@dataclass(frozen=True)
class ClientView:
    """What a trainer waits on, read at once."""

    latest: Version | None  # the newest global version; None before the platform published one
    active: bool  # the training accepts updates
    queued: bool  # an update of this client waits in the queue (not yet aggregated or rejected)


@dataclass(frozen=True)
class QueuedUpdate:
    """A client's submitted update waiting to be aggregated, in queue order."""

    client: str
    base_version: int
    content_hash: bytes
    pointer: WeightsPointer
    samples: int

    @property
    def submission(self) -> Submission:
        return Submission.of(self.client, self.content_hash, self.pointer)


class TrainingClosed(RuntimeError):
    """The training no longer accepts updates (it finished while the client was training)."""


class UpdateRefused(RuntimeError):
    """The coordinator refused this update (e.g. another of the client's updates is still
    queued); the client logs it and trains on."""


class PlatformCoordinator(ABC):
    """The aggregator's side: publish versions, consume the queue, close the training."""

    #: Where auditors find this training (contract address, or classic control topic).
    identity: str

    def blockchain_info(self) -> BlockchainInfo | None:
        """What the model announcement tells clients about the contract (blockchain mode)."""
        return None

    def control_topic(self) -> str:
        """The control topic the announcement names (classic mode)."""
        return ""

    def announced_clients(self, registered: Iterable[str]) -> tuple[str, ...]:
        """The clients the announcement names as registered (classic mode: no contract registers
        them, and only a named client trains)."""
        return ()

    @abstractmethod
    def start(self, genesis_hash: bytes, pointer: WeightsPointer, announcement_hash: bytes) -> Version:
        """Publish version 0, record the SHA-256 of the model announcement clients must trust, and
        open the training to submissions (idempotent on restart)."""

    @abstractmethod
    def announcement_hash(self) -> bytes | None:
        """The announcement hash recorded at start (None before)."""

    def last_transaction(self) -> dict | None:
        """Hash, gas and block of the transaction that recorded the last round (blockchain mode)."""
        return None

    def announcement_headers(self, raw: bytes) -> list[tuple[str, bytes]]:
        """Kafka headers that make the announcement ``raw`` trusted (classic mode: a signature)."""
        return []

    @abstractmethod
    def latest(self) -> Version | None:
        """The newest global version, or None before ``start``."""

    @abstractmethod
    def version(self, number: int) -> Version:
        """A past global version (strategies that need the base model x_τ)."""

    @abstractmethod
    def wait_for_updates(self, minimum: int, timeout_s: float) -> list[QueuedUpdate]:
        """Queued updates in order once at least ``minimum`` wait (fewer if ``timeout_s`` passed)."""

    @abstractmethod
    def accepted_hashes(self) -> set[bytes]:
        """The content hashes of every update accepted so far in this training: the same hash
        submitted again (by anyone) is a duplicate."""

    @abstractmethod
    def rejections(self) -> Counter[str]:
        """Each client's rejections so far in this training that count against it (lower case,
        :func:`kafkaml.rewards.rejection_counts`): a restarted aggregator goes on excluding whom
        it excluded."""

    @abstractmethod
    def record_round(self, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        """Publish the next version and the outcome of every update it consumed (the oldest queued
        ones, in queue order), atomically."""

    @abstractmethod
    def record_rejections(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Consume queued updates, every one rejected (in queue order), without a new version, so
        that their clients may submit again while the round waits for more; returns the outcomes
        recorded (idempotent: none that were recorded before). The contract consumes its queue in
        order, so there only those at the queue's head leave it."""

    @abstractmethod
    def finish(self) -> None:
        """Close the training (idempotent) and pay what was credited."""

    @abstractmethod
    def rewards(self) -> dict[str, int]:
        """Tokens credited per client address."""

    @abstractmethod
    def credited(self) -> int:
        """Tokens credited by the whole training so far (what its budget has spent)."""

    @abstractmethod
    def is_finished(self) -> bool:
        """True once the training was closed (a restarted aggregator must not reopen it)."""


class ClientCoordinator(ABC):
    """The trainer's side: follow the global version, submit updates."""

    @property
    @abstractmethod
    def identity(self) -> str:
        """This client as the queue records it: the lower-case address of its key (blockchain) or
        its client id (classic). Its updates' payloads name it, so the aggregator can tell an
        update copied from another client (``foreign_update``)."""

    @abstractmethod
    def view(self) -> ClientView:
        """The newest version, whether the training accepts updates and whether this client's
        update waits in the queue, read at once: what a waiting trainer polls (one call to the
        node, one read of the control topic)."""

    def is_active(self) -> bool:
        """True while the training accepts updates."""
        return self.view().active

    def latest(self) -> Version | None:
        """The newest global version (None before the platform published one)."""
        return self.view().latest

    @abstractmethod
    def pause(self, seconds: float) -> None:
        """Wait up to ``seconds``, returning early once something may have changed (a version, the
        queue, the training's end): the contract's logs or the control topic's next record wake
        it, so a waiting trainer reacts within milliseconds instead of at its next poll. Callers
        read the state again afterwards."""

    def has_queued_update(self) -> bool:
        """True while an update of this client waits in the queue (not yet aggregated or rejected)."""
        return self.view().queued

    @abstractmethod
    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        """Queue an update; a hash this client submitted before (queued or consumed: a restarted
        trainer, or a second one of this client, computed the same update) is not submitted
        again, as it would only be a ``duplicate_update``. Raises
        :class:`TrainingClosed` when the training finished meanwhile, :class:`UpdateRefused` when
        the coordinator refuses this one update."""
