"""The newest records of a topic, read within a time and a memory bound: what a live view of a
topic (an inference's predictions) shows.

The last N records of a topic of several partitions have no order across partitions, so each
partition gives an equal share of N (rounded up) from its tail, and the N newest by timestamp are
kept. Tansu reports a partition's end as its last record batch's base offset + 1, short of that
batch's other records (see ``inference_worker/answers.py``); a fetch returns whole batches, so the
poll that reaches the reported end brings the rest of the batch too, and the newest records kept
are the true newest. The read stops at its deadline or its byte budget with what it has
(``complete`` is then false): a live view would rather show fewer records than wait or swell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from kafkaml import kafka

#: Bytes of record values one read holds at most (a thousand records of the largest size would be a GiB).
MAX_READ_BYTES = 16 << 20


@dataclass(frozen=True)
class PartitionSpan:
    """The offsets of the records kept from one partition (inclusive)."""

    partition: int
    first: int
    last: int


@dataclass(frozen=True)
class Tail:
    records: list[Any]  # kafka-python ConsumerRecords, oldest first
    spans: list[PartitionSpan]
    complete: bool  # every partition was read to its end within the bounds


def read_tail(bootstrap: str, topic: str, count: int, *, timeout_s: float = 2.0,
              max_bytes: int = MAX_READ_BYTES) -> Tail:
    """At most the ``count`` newest records of ``topic`` (none when it does not exist)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    consumer = kafka.assigned_consumer(bootstrap, fetch_max_bytes=4 * kafka.MAX_MESSAGE_BYTES,
                                       max_partition_fetch_bytes=2 * kafka.MAX_MESSAGE_BYTES)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return Tail([], [], True)
        tps = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        share = -(-count // len(tps))
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        starts = {tp: max(begins[tp], ends[tp] - share) for tp in tps}
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        read: dict[TopicPartition, list[Any]] = {tp: [] for tp in tps}
        complete = _poll(consumer, pending, starts, ends, read, time.monotonic() + timeout_s, max_bytes)
    finally:
        consumer.close()
    kept = [record for tp in tps for record in read[tp][-share:]]
    kept.sort(key=lambda record: (record.timestamp, record.partition, record.offset))
    kept = kept[-count:]
    spans = []
    for tp in tps:
        offsets = [record.offset for record in kept if record.partition == tp.partition]
        if offsets:
            spans.append(PartitionSpan(tp.partition, min(offsets), max(offsets)))
    return Tail(kept, spans, complete)


def _poll(consumer: Any, pending: set[TopicPartition], starts: dict[TopicPartition, int],
          ends: dict[TopicPartition, int], read: dict[TopicPartition, list[Any]], deadline: float,
          max_bytes: int) -> bool:
    """Read each pending partition from its start through its reported end; False when the
    deadline or the byte budget came first."""
    if not pending:
        return True
    consumer.assign(list(pending))
    for tp in pending:
        consumer.seek(tp, starts[tp])
    size = 0
    while pending:
        left = deadline - time.monotonic()
        if left <= 0 or size > max_bytes:
            return False
        for tp, records in consumer.poll(timeout_ms=max(1, min(200, int(left * 1000)))).items():
            read[tp] += records
            size += sum(len(record.value or b"") for record in records)
            if records and records[-1].offset >= ends[tp] - 1:
                pending.discard(tp)
                consumer.pause(tp)
    return True
