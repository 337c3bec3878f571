"""Control messages on Kafka topics: :func:`read_control` is the one reader of control topics
(loggers, classic coordinator): it reads from a given offset, decodes, and logs and skips
malformed records instead of crashing. :func:`read_pinned` reads the one record a
:class:`RecordPin` names, for a job told which record its service chose."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer, TopicPartition

from kafkaml import kafka
from kafkaml.messages.fields import SchemaError
from kafkaml.messages.kinds import DataControl, Message, decode
from kafkaml.messages.legacy import parse_data_control

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControlRecord:
    """One valid control message and where it was read (so a reader can resume after it)."""

    offset: int
    key: bytes | None
    message: Message
    raw: bytes = b""  # the record's bytes as published (what an announcement hash covers)
    headers: dict[str, bytes] = field(default_factory=dict)


def publish_control(producer: KafkaProducer, topic: str, message: Message, *, key: bytes | None = None,
                    partition: int = 0, timeout_s: float = 15.0) -> int:
    """Send one control message and wait for the broker; returns its offset."""
    metadata = producer.send(topic, message.encode(), key=key, partition=partition).get(timeout=timeout_s)
    return metadata.offset


def read_control(bootstrap: str, topic: str, *, start_offset: int = 0, partition: int = 0,
                 expected: type[Message] | None = None, idle_timeout_s: float | None = None,
                 to_end: bool = False, poll_ms: int = 500) -> Iterator[ControlRecord]:
    """Yield valid control messages from ``start_offset`` on; malformed ones are logged and skipped.

    With ``to_end`` the iteration ends at the partition's end offset as it was when the read
    began: a catch-up read of what is there, which waits for nothing (a record published later
    is the next read's; the topic must exist, or asking for its end offset times out). With
    ``idle_timeout_s`` it ends once no record arrived for that long; with neither, it follows the
    topic for ever (a logger). Data control messages in the earlier Kafka-ML format are accepted
    when ``expected`` is :class:`DataControl`.
    """
    tp = TopicPartition(topic, partition)
    consumer = kafka.assigned_consumer(bootstrap, [tp])
    try:
        consumer.seek(tp, start_offset)
        end = consumer.end_offsets([tp])[tp] if to_end else None
        last_record = time.monotonic()
        while ((end is None or consumer.position(tp) < end)
               and (idle_timeout_s is None or time.monotonic() - last_record < idle_timeout_s)):
            for record in consumer.poll(timeout_ms=poll_ms).get(tp, []):
                last_record = time.monotonic()
                try:
                    message = parse_data_control(record.value) if expected is DataControl else decode(record.value, expected)
                except SchemaError as exc:
                    log.warning("skipping malformed message at %s[%d]@%d: %s", topic, partition, record.offset, exc)
                    continue
                yield ControlRecord(record.offset, record.key, message, bytes(record.value),
                                    dict(record.headers or []))
    finally:
        consumer.close()


@dataclass(frozen=True)
class RecordPin:
    """One control record a service chose, named by its place and the SHA-256 of its value.

    Anyone who can write to a control topic can publish another record of the same id; a job given
    a pin reads that record alone and refuses it when its bytes are not the ones chosen."""

    partition: int
    offset: int
    sha256: str  # lower-case hex, as the registries store it

    def place(self, topic: str) -> str:
        """Where the record is, as errors and logs name a record: ``topic[partition]@offset``."""
        return f"{topic}[{self.partition}]@{self.offset}"


class PinError(RuntimeError):
    """The pinned record is not there, or it is not the record pinned."""


def read_pinned(bootstrap: str, topic: str, pin: RecordPin, *, expected: type[Message], timeout_s: float,
                max_bytes: int) -> ControlRecord:
    """The record ``pin`` names, its SHA-256 checked before it is decoded (:class:`PinError` naming
    both digests when it differs); waits up to ``timeout_s`` for the broker to serve it.

    Only that offset is read, however many records the topic holds, and a value larger than
    ``max_bytes`` (the most the reader's registry accepts of such a record) is refused unhashed.
    """
    where = pin.place(topic)
    tp = TopicPartition(topic, pin.partition)
    consumer = kafka.assigned_consumer(bootstrap, [tp], max_partition_fetch_bytes=max_bytes + 64 * 1024)
    try:
        consumer.seek(tp, pin.offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200, max_records=1).get(tp, []):
                if record.offset != pin.offset:  # compacted, a transaction marker, or past the end
                    raise PinError(f"there is no record at {where}")
                return _pinned_record(record, where, pin, expected, max_bytes)
        raise PinError(f"no record at {where} within {timeout_s:.0f} s")
    finally:
        consumer.close()


def _pinned_record(record: Any, where: str, pin: RecordPin, expected: type[Message], max_bytes: int) -> ControlRecord:
    value = bytes(record.value or b"")
    if len(value) > max_bytes:
        raise PinError(f"the record at {where} is {len(value)} bytes; at most {max_bytes} are read")
    digest = hashlib.sha256(value).hexdigest()
    if digest != pin.sha256:
        raise PinError(f"the record at {where} has SHA-256 {digest}, not the pinned {pin.sha256}")
    try:
        message = decode(value, expected)
    except SchemaError as exc:
        raise PinError(f"the record at {where} is not a valid {expected.KIND}: {exc}") from None
    return ControlRecord(record.offset, record.key, message, value, dict(record.headers or []))
