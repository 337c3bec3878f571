"""The worker's records, and which inputs are answered already: exactly once across restarts.

Every input record gets one answer: a prediction on OUTPUT_TOPIC or, when it is not a sample, an
error on ERROR_TOPIC, each with the input's key, on the partition with the input's partition
number, carrying the input's offset in the header :data:`OFFSET_HEADER`. Input offsets are
committed only after the answers are flushed, so a worker that dies in between leaves answered
but uncommitted inputs behind; the next owner of the partition reads the tails of its two answer
partitions (:func:`answered_offsets`) and skips those inputs instead of answering them again.

This works without Kafka transactions because a partition has one writer at a time: the
consumer group gives each input partition to one replica, and that replica alone writes the
answer partitions of the same number, in input order (an idempotent producer, one request in
flight), so a tail read backwards from the end meets the input offsets in decreasing order.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from kafkaml.messages.kinds import OffsetRange
from kafkaml.streams import StreamTimeout, read_range

OFFSET_HEADER = "kafkaml-input-offset"
#: Which replica wrote an answer (its host name, a pod's name in a cluster, and process id).
REPLICA_HEADER = "kafkaml-replica"
REPLICA = f"{socket.gethostname()}/{os.getpid()}".encode()
#: Records read back per step of a tail scan at first; each step doubles it.
FIRST_TAIL = 64
TAIL_READ_TIMEOUT_S = 15.0


def headers(offset: int) -> list[tuple[str, bytes]]:
    return [(OFFSET_HEADER, str(offset).encode()), (REPLICA_HEADER, REPLICA)]


def input_offset(record_headers: Any) -> int | None:
    """The input offset an answer record carries (None for a record not written by a worker)."""
    for name, value in record_headers or ():
        if name == OFFSET_HEADER:
            try:
                return int(value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def prediction_value(answer: Mapping[str, Any]) -> bytes:
    return json.dumps(answer, allow_nan=False, separators=(",", ":")).encode()


def error_value(reason: str, topic: str, partition: int, offset: int) -> bytes:
    return json.dumps({"error": reason, "topic": topic, "partition": partition, "offset": offset},
                      separators=(",", ":")).encode()


def answered_offsets(reader: KafkaConsumer, answer_partitions: list[TopicPartition], since: int) -> set[int]:
    """Input offsets from ``since`` on that any of ``answer_partitions`` answers already.

    Each partition is read backwards from its end, in steps that double, until a step reaches an
    answer to an input before ``since`` or the partition's start: the answers past the committed
    offset, usually less than one batch, are all it reads. ``reader`` must return a whole fetch
    per poll (a large ``max_poll_records``), see :func:`_read_to_the_end`.
    """
    answered: set[int] = set()
    for tp in answer_partitions:
        begin, end = reader.beginning_offsets([tp])[tp], reader.end_offsets([tp])[tp]
        step, records = FIRST_TAIL, None
        while end > begin:
            start = max(begin, end - step)
            if records is None:
                records = _read_to_the_end(reader, tp, start, end)
            else:
                records = list(read_range(reader, tp.topic, OffsetRange(tp.partition, start, end), TAIL_READ_TIMEOUT_S))
            offsets = [input_offset(record.headers) for record in records]
            answered.update(offset for offset in offsets if offset is not None and offset >= since)
            if any(offset is not None and offset < since for offset in offsets):
                break
            end, step = start, 2 * step
    return answered


def _read_to_the_end(reader: KafkaConsumer, tp: TopicPartition, start: int, end: int) -> list[Any]:
    """The records from ``start`` to the partition's true end, given its reported ``end``.

    Tansu reports a partition's end as its last record batch's base offset + 1, short of the
    batch's other records (a worker's answers go in batches). A fetch returns whole batches, so
    the poll that returns the record at ``end - 1`` (the base) returns the rest of its batch too.
    """
    reader.assign([tp])
    reader.seek(tp, start)
    records: list[Any] = []
    deadline = time.monotonic() + TAIL_READ_TIMEOUT_S
    while not records or records[-1].offset < end - 1:
        polled = reader.poll(timeout_ms=200).get(tp, [])
        if polled:
            deadline = time.monotonic() + TAIL_READ_TIMEOUT_S
        elif time.monotonic() > deadline:
            raise StreamTimeout(f"{tp.topic}[{tp.partition}]: no record for {TAIL_READ_TIMEOUT_S:.0f} s at offset "
                                f"{reader.position(tp)} of [{start}, {end}) — is the broker down?")
        records += polled
    return records
