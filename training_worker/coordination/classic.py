"""Classic coordination: the earlier Kafka-ML's control topic instead of a contract.

One single-partition control topic per training on the platform Kafka carries, in order, the
updates the clients submit (``WeightsMessage`` role ``update``) and the aggregator's round
records (``RoundMessage``). A round record is the one write that makes a round happen, like the
contract's ``recordRound``: the new global version (number, pointer, content hash) together with
the outcome and reward of every update it consumed; genesis is round 0 and the ``finished`` mark
closes the training. A record of rejected outcomes alone, without a version, is the contract's
``recordRejections``: those updates leave the queue while the round waits for more. A version without its round record does not exist, so an aggregator that
dies after publishing weights but before the record leaves no trace but unreferenced weights,
and its successor aggregates the same queue again into the same round, counted once.

Every participant derives the same state by replaying the topic: a round record counts only
when it is the next version and the training is open, and an outcome only for a submission
(client, content hash, pointer: two clients may submit one hash) that is still queued; anything
else (a duplicate record, a stale writer, a foreign or malformed record, a second update of a
client whose first is still queued, which the contract refuses as ``UpdatePending``) is skipped
and logged.
There is no authentication and nothing is paid: this mode exists to compare against the
blockchain mode on the same workload, as the paper does.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from kafkaml import kafka, topics
from kafkaml.control_topics import publish_control
from kafkaml.faults import fault_point
from kafkaml.messages.fields import SchemaError
from kafkaml.messages.kinds import Message, RoundMessage, WeightsMessage, decode
from kafkaml.pointers import WeightsPointer
from kafkaml.rewards import rejection_counts
from kafkaml.signing import SIGNATURE_HEADER, sign
from training_worker.coordination.base import (
    ClientCoordinator,
    ClientView,
    Outcome,
    PlatformCoordinator,
    QueuedUpdate,
    Submission,
    TrainingClosed,
    UpdateRefused,
    Version,
)

log = logging.getLogger(__name__)

#: How long the broker may hold a fetch of the control topic. Waits end on the next record
#: (:meth:`ClassicCoordination.await_change`), but Tansu does not answer a held fetch when a
#: record arrives: measured, a record written right as a 500 ms fetch began reached the waiting
#: job 250 ms later, with 100 ms in 8–11 ms. A waiting job then costs 1 % of a core in fetches
#: (0.4 % at 500 ms).
CONTROL_FETCH_WAIT_MS = 100
#: A catch-up read that makes no progress for this long means the broker is gone.
_CATCH_UP_TIMEOUT_S = 30.0


@dataclass
class _State:
    """The training's state as replayed from the control topic up to ``next_offset``."""

    versions: dict[int, Version] = field(default_factory=dict)
    queue: dict[Submission, QueuedUpdate] = field(default_factory=dict)  # insertion order = queue order
    consumed: set[Submission] = field(default_factory=set)
    accepted: set[bytes] = field(default_factory=set)  # content hashes of the accepted updates
    rejections: Counter[str] = field(default_factory=Counter)  # counted against each client (lower case)
    rewards: dict[str, int] = field(default_factory=dict)
    finished: bool = False
    next_offset: int = 0


class ClassicCoordination:
    """Replays and appends to one training's control topic."""

    def __init__(self, bootstrap: str, topic: str, model_id: str, sender: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.model_id = model_id
        self.sender = sender
        self.state = _State()
        topics.ensure_topic(bootstrap, topic)
        self.producer = kafka.producer(bootstrap)
        self.partition = TopicPartition(topic, 0)
        self.consumer = kafka.assigned_consumer(bootstrap, [self.partition], fetch_max_wait_ms=CONTROL_FETCH_WAIT_MS)
        self.consumer.seek(self.partition, 0)

    def refresh(self) -> _State:
        """Apply every control record written up to now (reads to the current end offset).

        Tansu reports a partition's end as the last record batch's base offset + 1; that is exact
        here because every control record is produced and acknowledged on its own (one batch).
        """
        end = self.consumer.end_offsets([self.partition])[self.partition]
        deadline = time.monotonic() + _CATCH_UP_TIMEOUT_S
        while self.state.next_offset < end:
            records = self.consumer.poll(timeout_ms=200).get(self.partition, [])
            if records:
                deadline = time.monotonic() + _CATCH_UP_TIMEOUT_S
            elif time.monotonic() > deadline:
                raise TimeoutError(f"control topic {self.topic} stopped at offset {self.state.next_offset} "
                                   f"of {end}; is the platform broker down?")
            self._apply_records(records)
        return self.state

    def await_change(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the next control record and apply what arrived. The
        consumer keeps a fetch outstanding, each held by the broker for at most
        ``CONTROL_FETCH_WAIT_MS``, so a waiting job sees a record within about that long
        instead of at its next poll."""
        polled = self.consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)))
        self._apply_records(polled.get(self.partition, []))

    def _apply_records(self, records: Iterable[ConsumerRecord]) -> None:
        for record in records:
            self.state.next_offset = record.offset + 1
            try:
                self._apply(decode(record.value))
            except SchemaError as exc:
                log.warning("skipping malformed control record %s@%d: %s", self.topic, record.offset, exc)

    def _apply(self, message: Message) -> None:
        state = self.state
        if isinstance(message, WeightsMessage) and message.model_id == self.model_id and message.role == "update":
            update = QueuedUpdate(message.sender, message.base_version, message.content_hash, message.pointer,
                                  message.samples)
            if update.submission in state.consumed or update.submission in state.queue:
                return
            if _queued_of(state, update.client):
                # As the contract reverts UpdatePending: one pending update per client, so the
                # queue holds at most one update per client and cannot grow ever staler.
                log.warning("skipping update %s from %s: an earlier update of that client is still queued",
                            update.content_hash.hex()[:12], update.client)
                return
            state.queue[update.submission] = update
        elif isinstance(message, RoundMessage) and message.model_id == self.model_id:
            self._apply_round(message)

    def _apply_round(self, message: RoundMessage) -> None:
        state = self.state
        if state.finished:
            log.warning("skipping round record %d on %s: the training is finished", message.model_version, self.topic)
            return
        if message.publishes_version:
            expected = max(state.versions, default=-1) + 1
            if message.model_version != expected:
                log.warning("skipping round record %d on %s: the next version is %d", message.model_version,
                            self.topic, expected)
                return
            assert message.content_hash is not None and message.pointer is not None
            state.versions[expected] = Version(expected, message.content_hash, message.pointer)
        elif message.outcomes and not any(outcome.accepted for outcome in message.outcomes):
            pass  # rejections recorded while the round waits for more updates: no version
        elif not message.finished:  # schema 1: its version was a separate record, not resumable
            log.warning("skipping round record %d on %s: it names no version (schema 1)", message.model_version,
                        self.topic)
            return
        for outcome in message.outcomes:
            update = state.queue.pop(outcome.submission, None)
            if update is None:
                log.warning("round %d on %s: update %s from %s is not queued; its outcome is ignored",
                            message.model_version, self.topic, outcome.content_hash.hex()[:12], outcome.client)
                continue
            state.consumed.add(outcome.submission)
            if outcome.accepted:
                state.accepted.add(outcome.content_hash)
            state.rejections.update(rejection_counts([(update.client, outcome.accepted, outcome.reason)]))
            if outcome.reward:
                state.rewards[update.client] = state.rewards.get(update.client, 0) + outcome.reward
        state.finished = message.finished

    def publish(self, message: Message) -> None:
        publish_control(self.producer, self.topic, message)


class ClassicPlatform(PlatformCoordinator):
    def __init__(self, coordination: ClassicCoordination, signing_key: str) -> None:
        self.channel = coordination
        self.identity = f"kafka://{coordination.bootstrap}/{coordination.topic}"
        self._announcement_hash: bytes | None = None
        self._signing_key = signing_key

    def announcement_headers(self, raw: bytes) -> list[tuple[str, bytes]]:
        """No chain anchors the announcement in classic mode: the platform signs it."""
        return [(SIGNATURE_HEADER, sign(self._signing_key, raw))]

    def control_topic(self) -> str:
        return self.channel.topic

    def announced_clients(self, registered: Iterable[str]) -> tuple[str, ...]:
        return tuple(registered)

    def _record(self, number: int, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        """Append the round record of version ``number`` and return the version the replay derives."""
        self.channel.publish(RoundMessage(self.channel.model_id, number, tuple(outcomes),
                                          content_hash=content_hash, pointer=pointer))
        versions = self.channel.refresh().versions
        if versions.get(number) != Version(number, content_hash, pointer):
            raise RuntimeError(f"round record {number} on {self.channel.topic} did not become that version: "
                               "is another aggregator writing to this training?")
        return versions[number]

    def start(self, genesis_hash: bytes, pointer: WeightsPointer, announcement_hash: bytes) -> Version:
        self._announcement_hash = announcement_hash
        state = self.channel.refresh()
        if 0 in state.versions:
            return state.versions[0]
        return self._record(0, genesis_hash, pointer, [])

    def announcement_hash(self) -> bytes | None:
        return self._announcement_hash

    def latest(self) -> Version | None:
        versions = self.channel.refresh().versions
        return versions[max(versions)] if versions else None

    def version(self, number: int) -> Version:
        versions = self.channel.state.versions
        if number not in versions:
            versions = self.channel.refresh().versions
        if number not in versions:
            raise LookupError(f"global version {number} was never published on {self.channel.topic}")
        return versions[number]

    def wait_for_updates(self, minimum: int, timeout_s: float) -> list[QueuedUpdate]:
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            queue = list(self.channel.refresh().queue.values())
            if len(queue) >= minimum or time.monotonic() >= deadline:
                return queue
            self.channel.await_change(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)

    def accepted_hashes(self) -> set[bytes]:
        return set(self.channel.refresh().accepted)

    def rejections(self) -> Counter[str]:
        return Counter(self.channel.refresh().rejections)

    def record_round(self, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        return self._record(max(self.channel.refresh().versions) + 1, content_hash, pointer, outcomes)

    def record_rejections(self, outcomes: list[Outcome]) -> list[Outcome]:
        state = self.channel.refresh()
        left = tuple(outcome for outcome in outcomes if outcome.submission in state.queue)
        if left:
            self.channel.publish(RoundMessage(self.channel.model_id, max(state.versions), left))
            self.channel.refresh()
        return list(left)

    def finish(self) -> None:
        state = self.channel.refresh()
        if not state.finished:
            self.channel.publish(RoundMessage(self.channel.model_id, max(state.versions, default=0), (), True))
            self.channel.refresh()
            fault_point("aggregator.after_finish")

    def rewards(self) -> dict[str, int]:
        return dict(self.channel.refresh().rewards)

    def credited(self) -> int:
        return sum(self.rewards().values())

    def is_finished(self) -> bool:
        return self.channel.refresh().finished


class ClassicClient(ClientCoordinator):
    def __init__(self, coordination: ClassicCoordination) -> None:
        self.channel = coordination

    @property
    def identity(self) -> str:
        return self.channel.sender

    def view(self) -> ClientView:
        state = self.channel.refresh()
        return ClientView(state.versions[max(state.versions)] if state.versions else None,
                          bool(state.versions) and not state.finished, _queued_of(state, self.channel.sender))

    def pause(self, seconds: float) -> None:
        self.channel.await_change(seconds)

    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        state = self.channel.refresh()
        if state.finished:
            raise TrainingClosed(f"training {self.channel.model_id} finished")
        me = self.channel.sender.lower()
        if any(s.client == me and s.content_hash == content_hash for s in [*state.queue, *state.consumed]):
            return  # submitted before: again it would only be a duplicate_update
        if _queued_of(state, me):
            raise UpdateRefused(f"an update of {self.channel.sender} is still queued")
        self.channel.publish(WeightsMessage(self.channel.model_id, "update", base_version, pointer, content_hash,
                                            self.channel.sender, base_version=base_version, samples=samples))


def _queued_of(state: _State, client: str) -> bool:
    """Whether ``client`` has an update in the queue."""
    client = client.lower()
    return any(submission.client == client for submission in state.queue)
