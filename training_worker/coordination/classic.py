"""Classic coordination: the earlier Kafka-ML's control topic instead of a contract.

One single-partition control topic per training on the platform Kafka carries, in order, the
global versions the aggregator publishes (``WeightsMessage`` role ``global``), the updates the
clients submit (role ``update``) and the round records (``RoundMessage``: outcomes, rewards, and
the final ``finished`` mark). Every participant derives the same state by replaying the topic,
so a restarted aggregator resumes exactly like it does from the chain. There is no
authentication and nothing is paid: this mode exists to compare against the blockchain mode on
the same workload, as the paper does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from kafka import TopicPartition

from kafkaml import kafka, topics
from kafkaml.pointers import WeightsPointer
from kafkaml.schemas import Message, RoundMessage, SchemaError, WeightsMessage, decode, publish_control
from training_worker.coordination.base import (
    ClientCoordinator,
    Outcome,
    PlatformCoordinator,
    QueuedUpdate,
    TrainingClosed,
    Version,
)

log = logging.getLogger(__name__)

#: A catch-up read that makes no progress for this long means the broker is gone.
_CATCH_UP_TIMEOUT_S = 30.0


@dataclass
class _State:
    """The training's state as replayed from the control topic up to ``next_offset``."""

    versions: dict[int, Version] = field(default_factory=dict)
    queue: dict[bytes, QueuedUpdate] = field(default_factory=dict)  # insertion order = queue order
    consumed: set[bytes] = field(default_factory=set)
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
        self.consumer = kafka.assigned_consumer(bootstrap, [self.partition])
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
            for record in records:
                self.state.next_offset = record.offset + 1
                try:
                    self._apply(decode(record.value))
                except SchemaError as exc:
                    log.warning("skipping malformed control record %s@%d: %s", self.topic, record.offset, exc)
        return self.state

    def _apply(self, message: Message) -> None:
        state = self.state
        if isinstance(message, WeightsMessage) and message.model_id == self.model_id:
            if message.role == "global":
                state.versions[message.version] = Version(message.version, message.content_hash, message.pointer)
            elif message.content_hash not in state.consumed and message.content_hash not in state.queue:
                state.queue[message.content_hash] = QueuedUpdate(
                    message.sender, message.base_version, message.content_hash, message.pointer, message.samples)
        elif isinstance(message, RoundMessage) and message.model_id == self.model_id:
            for outcome in message.outcomes:
                update = state.queue.pop(outcome.content_hash, None)
                state.consumed.add(outcome.content_hash)
                if update is not None and outcome.reward:
                    state.rewards[update.client] = state.rewards.get(update.client, 0) + outcome.reward
            state.finished = state.finished or message.finished

    def publish(self, message: Message) -> None:
        publish_control(self.producer, self.topic, message)


class ClassicPlatform(PlatformCoordinator):
    def __init__(self, coordination: ClassicCoordination) -> None:
        self.channel = coordination
        self.identity = f"kafka://{coordination.bootstrap}/{coordination.topic}"

    def control_topic(self) -> str:
        return self.channel.topic

    def _publish_version(self, number: int, content_hash: bytes, pointer: WeightsPointer) -> Version:
        self.channel.publish(WeightsMessage(self.channel.model_id, "global", number, pointer, content_hash,
                                            self.channel.sender))
        return Version(number, content_hash, pointer)

    def start(self, genesis_hash: bytes, pointer: WeightsPointer) -> Version:
        state = self.channel.refresh()
        if 0 in state.versions:
            return state.versions[0]
        return self._publish_version(0, genesis_hash, pointer)

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
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def record_round(self, content_hash: bytes, pointer: WeightsPointer, outcomes: list[Outcome]) -> Version:
        state = self.channel.refresh()
        number = max(state.versions) + 1
        version = self._publish_version(number, content_hash, pointer)
        self.channel.publish(RoundMessage(self.channel.model_id, number, tuple(outcomes)))
        self.channel.refresh()
        return version

    def finish(self) -> None:
        state = self.channel.refresh()
        if not state.finished:
            self.channel.publish(RoundMessage(self.channel.model_id, max(state.versions, default=0), (), True))
            self.channel.refresh()

    def rewards(self) -> dict[str, int]:
        return dict(self.channel.refresh().rewards)

    def is_finished(self) -> bool:
        return self.channel.refresh().finished


class ClassicClient(ClientCoordinator):
    def __init__(self, coordination: ClassicCoordination) -> None:
        self.channel = coordination

    @property
    def identity(self) -> str:
        return self.channel.sender

    def is_active(self) -> bool:
        state = self.channel.refresh()
        return bool(state.versions) and not state.finished

    def latest(self) -> Version | None:
        versions = self.channel.refresh().versions
        return versions[max(versions)] if versions else None

    def has_queued_update(self) -> bool:
        return any(update.client == self.channel.sender for update in self.channel.refresh().queue.values())

    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        state = self.channel.refresh()
        if state.finished:
            raise TrainingClosed(f"training {self.channel.model_id} finished")
        if content_hash in state.queue or content_hash in state.consumed:
            return
        self.channel.publish(WeightsMessage(self.channel.model_id, "update", base_version, pointer, content_hash,
                                            self.channel.sender, base_version=base_version, samples=samples))
