"""Topic creation against a real Tansu broker: idempotent, validated, clear when refused."""

from __future__ import annotations

import pytest
from kafka.admin import NewTopic

from kafkaml import kafka
from kafkaml.processes import free_port
from kafkaml.topics import WEIGHTS_TOPIC_CONFIG, TopicError, ensure_topic, partition_count
from tests.conftest import unique


def test_ensure_topic_creates_once_then_accepts_the_existing_topic(platform_bootstrap: str) -> None:
    name = unique("ensure")
    assert partition_count(platform_bootstrap, name) is None
    assert ensure_topic(platform_bootstrap, name, partitions=3, configs=WEIGHTS_TOPIC_CONFIG) is True
    assert partition_count(platform_bootstrap, name) == 3
    assert ensure_topic(platform_bootstrap, name, partitions=3) is False
    assert partition_count(platform_bootstrap, name) == 3


def test_an_existing_topic_with_another_layout_is_refused_clearly(platform_bootstrap: str) -> None:
    """E.g. a topic auto-created by a producer with several partitions before we could create it."""
    name = unique("layout")
    kafka.admin(platform_bootstrap).create_topics([NewTopic(name, 4, 1)])
    with pytest.raises(TopicError, match=rf"topic '{name}' already exists .* with 4 partition\(s\), but 1 are needed"):
        ensure_topic(platform_bootstrap, name)


@pytest.mark.parametrize(("name", "partitions", "problem"), [
    ("has space", 1, "not a valid topic name"),
    ("", 1, "not a valid topic name"),
    ("..", 1, "not a valid topic name"),
    ("x" * 250, 1, "not a valid topic name"),
    ("fine-name", 0, "partitions must be a positive integer"),
    ("fine-name", True, "partitions must be a positive integer"),
])
def test_bad_requests_are_refused_before_the_broker_sees_them(platform_bootstrap: str, name, partitions, problem) -> None:
    """Tansu itself accepts such topics (it created 'bad topic!!' with 0 partitions when asked)."""
    with pytest.raises(TopicError, match=problem):
        ensure_topic(platform_bootstrap, name, partitions=partitions)
    if name == "fine-name":
        assert partition_count(platform_bootstrap, name) is None


def test_unreachable_broker_is_reported() -> None:
    with pytest.raises(kafka.KafkaUnavailable, match="no Kafka broker answers"):
        ensure_topic(f"127.0.0.1:{free_port()}", unique("nowhere"))
