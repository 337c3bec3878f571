"""Client factories against a real Tansu broker, including the consumer-group join quirk."""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition
from kafka.admin import NewTopic

from kafkaml import kafka
from kafkaml.kafka import GROUP_REBALANCE_TIMEOUT_MS
from kafkaml.processes import free_port
from tests.conftest import unique


def test_group_consumer_receives_its_first_record_within_seconds(platform_bootstrap: str) -> None:
    """Tansu completes a group join only after the rebalance timeout; with the clients' default
    (300 s) a group consumer would wait minutes. A regression here stalls the inference worker."""
    topic = unique("group-join")
    kafka.admin(platform_bootstrap).create_topics([NewTopic(topic, 1, 1)])
    producer = kafka.producer(platform_bootstrap)
    producer.send(topic, b"first").get(timeout=10)
    producer.close()

    started = time.monotonic()
    consumer = kafka.group_consumer(platform_bootstrap, unique("group"))
    consumer.subscribe([topic])
    try:
        message = None
        while message is None and time.monotonic() - started < 30:
            message = consumer.poll(0.2)
        waited = time.monotonic() - started
    finally:
        consumer.close()
    assert message is not None and message.error() is None and message.value() == b"first"
    assert waited < 3 * GROUP_REBALANCE_TIMEOUT_MS / 1000, f"group join took {waited:.1f} s"


def test_assigned_consumer_reads_an_exact_offset_range(platform_bootstrap: str) -> None:
    """Seeked to offset 3, the consumer delivers offset 3 first and then every record in order up
    to the range's end (offset 7), with nothing skipped or repeated: both ends of [3, 7) exact."""
    topic = unique("assigned")
    kafka.admin(platform_bootstrap).create_topics([NewTopic(topic, 1, 1)])
    producer = kafka.producer(platform_bootstrap)
    for index in range(10):
        producer.send(topic, str(index).encode())
    producer.flush()
    producer.close()
    partition = TopicPartition(topic, 0)
    start, end = 3, 7
    consumer = kafka.assigned_consumer(platform_bootstrap, [partition])
    consumer.seek(partition, start)
    delivered: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 10
    while not any(offset >= end for offset, _ in delivered) and time.monotonic() < deadline:
        delivered += [(r.offset, r.value) for r in consumer.poll(timeout_ms=200).get(partition, [])]
    consumer.close()
    assert delivered and delivered[0][0] == start, delivered
    assert [offset for offset, _ in delivered] == list(range(start, start + len(delivered))), delivered
    assert [(offset, value) for offset, value in delivered if offset < end] == [
        (offset, str(offset).encode()) for offset in range(start, end)]
    assert (end, str(end).encode()) in delivered, "the range's end was never reached"


def test_unreachable_broker_raises_kafka_unavailable_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(kafka.KafkaUnavailable, match="no Kafka broker answers"):
        kafka.producer(f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1000)
    assert time.monotonic() - started < 10
    assert not kafka.broker_answers(f"127.0.0.1:{free_port()}", timeout_s=0.5)
