"""A training's contract as a client's trainer uses it: one pending update at a time, in the
client's own update topic; the claim of its rewards after the training.

Idempotent: :meth:`TrainerLedger.submit_update` first asks whether this account's update is
already queued, so a restarted client never submits the same update twice.
"""

from __future__ import annotations

import logging
import threading

from kafkaml.ledger.events import pack_update
from kafkaml.ledger.records import SubmittedUpdate
from kafkaml.ledger.signed import SignedLedger
from kafkaml.ledger.transactions import Rpc, Sender
from kafkaml.pointers import WeightsPointer, check_hash
from kafkaml.topics import update_topic

log = logging.getLogger(__name__)


class TrainerLedger(SignedLedger):
    """A training as one registered client's account sees it."""

    def __init__(self, rpc: Rpc, sender: Sender, address: str) -> None:
        super().__init__(rpc, sender, address)
        self._submit_lock = threading.Lock()
        self._sample_ceiling: int | None = None  # fixed once the account is registered

    def has_pending(self, address: str | None = None) -> bool:
        """Whether this account (or ``address``) has an update waiting in the queue (one call)."""
        return super().has_pending(address or self.account)

    def submit_update(
        self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int
    ) -> SubmittedUpdate:
        """Queue an update, whose weights must be in this account's update topic; if this account
        submitted this very hash before, queued or already consumed (a restarted client, or a
        second trainer of the same client that computed the same update), return that submission
        instead: the aggregator would only reject it as a duplicate, and a queued duplicate holds
        the account's one pending place until a round consumes it.
        Raises :class:`~kafkaml.ledger.errors.UpdatePending` while another update of this
        account waits in the queue."""
        check_hash(content_hash)
        expected_topic = update_topic(self.info().weights_topic, self.account or "")
        if pointer.topic != expected_topic:
            raise ValueError(f"this client's updates live in {expected_topic!r}, not {pointer.topic!r}")
        word = pack_update(base_version, samples, pointer.partition, pointer.start_offset, pointer.end_offset)
        with self._submit_lock:
            existing = self._own_submission(bytes(content_hash))
            if existing is not None:
                log.info("update 0x%s was submitted already (seq %d); not submitting it again",
                         content_hash.hex(), existing.seq)
                return existing
            receipt = self._transact("submitUpdate", [content_hash, word],
                                     f"submit update based on version {base_version}")
        seq = self._view("pendingOf", self.account)[1]
        if self._sample_ceiling is None:  # a client is registered once, with its ceiling
            self._sample_ceiling = int(self._view("sampleCeilingOf", self.account))
        capped = min(samples, self._sample_ceiling)
        return SubmittedUpdate(
            seq,
            self.account,
            base_version,
            bytes(content_hash),
            pointer,
            capped,
            receipt["blockNumber"],
            bytes(receipt["transactionHash"]),
        )

    def claim(self) -> int:
        """Mint this account's unpaid reward to it (after the training); returns the amount."""
        amount = self.unpaid_of(self.account)
        self._transact("claim", [], "claim rewards")
        return amount

    def _own_submission(self, content_hash: bytes) -> SubmittedUpdate | None:
        """This account's latest submission of ``content_hash``, as its event recorded it (None if none)."""
        submitted, _ = self._view("queueCounters")
        account = (self.account or "").lower()
        mine = [s for s in self._submissions_up_to(submitted)
                if s.client.lower() == account and s.content_hash == content_hash]
        return mine[-1] if mine else None
