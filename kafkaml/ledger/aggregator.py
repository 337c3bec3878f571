"""A training's contract as its aggregator (the training's own account) drives it: register the
clients, start, record each round's verdicts and new version, finish and pay out.

Idempotent throughout: :meth:`AggregatorLedger.record_round` recognises a round it already
recorded, :meth:`~AggregatorLedger.register_clients` sends only new clients and
:meth:`~AggregatorLedger.pay_rewards` only the unpaid, so a job restarted mid-step repeats nothing.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Mapping

from web3 import Web3

from kafkaml.ledger import errors
from kafkaml.ledger.contracts import pointer_word
from kafkaml.ledger.records import Phase, SubmittedUpdate, UpdateOutcome
from kafkaml.ledger.signed import SignedLedger
from kafkaml.pointers import WeightsPointer, check_hash

log = logging.getLogger(__name__)

MAX_CHUNKS = 2**24 - 1  # the contract stores a global version's record count in 24 bits
PAYOUT_BATCH = 100  # clients paid per payRewards transaction: far below any block gas limit


class AggregatorLedger(SignedLedger):
    """A training as its aggregator's account sees it."""

    def register_clients(self, ceilings: Mapping[str, int]) -> list[str]:
        """Register the clients not registered yet, each with its sample ceiling (the platform's
        count of the data it matched; 1 for every client weighs updates equally); returns those
        newly registered."""
        wanted = {Web3.to_checksum_address(a): int(c) for a, c in ceilings.items()}
        for address, ceiling in wanted.items():
            if not 0 < ceiling < 2**32:
                raise ValueError(f"the sample ceiling of {address} must be in 1..2^32-1, not {ceiling}")
        new = [a for a in wanted if not self.is_client(a)]
        if new:
            self._transact("registerClients", [new, [wanted[a] for a in new]], f"register {len(new)} clients")
        return new

    def start(self, genesis_hash: bytes, pointer: WeightsPointer, announcement_hash: bytes) -> None:
        """Publish the genesis model as version 0, record the announcement's hash, activate."""
        self._check_global_pointer(pointer)
        self._transact(
            "start",
            [check_hash(genesis_hash), pointer_word(pointer), check_hash(announcement_hash)],
            "start the training",
        )

    def record_round(
        self, new_hash: bytes, new_pointer: WeightsPointer, outcomes: list[UpdateOutcome]
    ) -> int:
        """Publish the next global version from the oldest queued updates (in queue order); returns it.

        Idempotent: when the first update is already consumed by a version with ``new_hash`` (this
        call ran before, e.g. before a restart), that version is returned without a transaction.
        """
        check_hash(new_hash)
        self._check_global_pointer(new_pointer)
        if not outcomes:
            raise ValueError("a round consumes at least one update")
        pending = self.pending_updates()
        if not pending or not outcomes[0].judges(pending[0]):
            done = self._version_with_hash(new_hash)
            if done is not None:
                log.info("round for version %d was already recorded; not sending it again", done)
                return done
            raise errors.LedgerError(
                f"update 0x{outcomes[0].content_hash.hex()} is not the oldest queued update: the round "
                "must consume the queue in order"
            )
        if len(pending) < len(outcomes):
            raise errors.LedgerError(f"a round of {len(outcomes)} updates, but {len(pending)} are queued")
        for update, outcome in zip(pending, outcomes, strict=False):
            if not outcome.judges(update):
                raise errors.LedgerError(
                    f"outcome for 0x{outcome.content_hash.hex()} ({outcome.client or 'any client'}) does not match "
                    f"queued update {update.seq} (0x{update.content_hash.hex()} from {update.client})"
                )
        encoded = [(update.client, outcome.verdict()) for update, outcome in zip(pending, outcomes, strict=False)]
        receipt = self._transact(
            "recordRound",
            [new_hash, pointer_word(new_pointer), encoded],
            f"record a round of {len(outcomes)} updates",
        )
        return self._published_version(new_hash, receipt["blockNumber"])

    def record_rejections(self, outcomes: list[UpdateOutcome]) -> int:
        """Consume the oldest queued updates, all rejected, without a new version (the contract's
        ``recordRejections``); returns how many this call consumed.

        Idempotent: outcomes whose updates were consumed already (this call ran before a
        restart) are skipped, and nothing is sent when none is left.
        """
        if any(outcome.accepted for outcome in outcomes):
            raise ValueError("record_rejections takes rejected updates only")
        pending = self.pending_updates()
        left = [outcome for outcome in outcomes
                if any(outcome.judges(update) for update in pending)]
        if not left:
            return 0
        for update, outcome in zip(pending, left, strict=False):
            if not outcome.judges(update):
                raise errors.LedgerError(
                    f"rejection of 0x{outcome.content_hash.hex()} ({outcome.client or 'any client'}) does not match "
                    f"queued update {update.seq} (0x{update.content_hash.hex()} from {update.client}): rejections "
                    "are recorded from the head of the queue"
                )
        encoded = [(update.client, outcome.verdict()) for update, outcome in zip(pending, left, strict=False)]
        self._transact("recordRejections", [encoded], f"record {len(left)} rejected updates")
        return len(left)

    def finish(self) -> None:
        self._transact("finish", [], "finish the training")

    def pay_rewards(self, clients: Iterable[str] | None = None, batch: int = PAYOUT_BATCH) -> None:
        """Mint the unpaid rewards of ``clients`` (default: every registered client), ``batch``
        clients per transaction so that no payout outgrows a block. Resumable: a client already
        paid is skipped, so calling again after a crash pays only who is left."""
        targets = [Web3.to_checksum_address(c) for c in (clients if clients is not None else self.clients())]
        unpaid = [c for c in targets if self.unpaid_of(c) > 0]
        for first in range(0, len(unpaid), batch):
            part = unpaid[first:first + batch]
            self._transact("payRewards", [part], f"pay the rewards of {len(part)} clients")

    def wait_for_updates(self, minimum: int = 1, timeout_s: float = 600.0) -> list[SubmittedUpdate]:
        """Block until at least ``minimum`` updates are queued (woken by the contract's logs, polling
        with back-off as the fallback); returns them.

        Raises TimeoutError after ``timeout_s``, or WrongPhase if the training stops meanwhile.
        """
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        for poll in itertools.count():
            submitted, consumed = self._view("queueCounters")  # the size and, once reached, the updates
            if submitted - consumed >= minimum:
                return self._queued(submitted, consumed)
            # Only a finish() empties the wait for good; asking on every poll would double the calls.
            if poll % 4 == 3 and self.phase() != Phase.ACTIVE:
                raise errors.WrongPhase(
                    "WrongPhase", {}, message=f"the training is {self.phase().name.lower()}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"fewer than {minimum} updates queued after {timeout_s:.0f} s")
            self.wait_for_event(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, self.rpc.poll_max_s)

    def _check_global_pointer(self, pointer: WeightsPointer) -> None:
        if pointer.topic != self.info().weights_topic:
            raise ValueError(
                f"global weights live in the training's topic {self.info().weights_topic!r}, "
                f"not {pointer.topic!r}"
            )
        if pointer.chunk_count > MAX_CHUNKS:
            raise ValueError(f"a global version may span at most {MAX_CHUNKS} records")

    def _version_with_hash(self, content_hash: bytes) -> int | None:
        published = [e for e in self._all_events() if e.name == "GlobalVersionPublished"]
        for version, event in enumerate(published):
            if bytes(event.args["contentHash"]) == content_hash:
                return version
        return None

    def _published_version(self, content_hash: bytes, block: int) -> int:
        """The version a round mined in ``block`` published (the event does not carry the number):
        the versions published in one block are the last ones the contract counts at its end."""
        function = self.contract.functions.latestVersion()
        last_version = int(self.rpc(lambda: function.call(block_identifier=block))[0])
        hashes = [bytes(e.args["contentHash"]) for e in self._published_in(block)]
        if content_hash not in hashes:
            raise errors.LedgerError(f"no version with hash 0x{content_hash.hex()} in block {block}")
        return last_version - (len(hashes) - 1 - hashes.index(content_hash))
