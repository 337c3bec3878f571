"""Kafka client factories shared by every service and job.

Two facts shape them:

* kafka-python computes CRC32C in pure Python unless the ``crc32c`` package is importable, which
  makes record batches ~30x slower (2 MiB/s measured against 58 MiB/s). :func:`require_fast_crc`
  fails loudly at start instead of letting a training crawl.
* Tansu completes a consumer-group join only after the group's rebalance timeout, which the
  clients take from the maximum poll interval (300 s by default). Readers of offset ranges
  therefore use :func:`assigned_consumer` (explicit assignment, no group); the one reader that
  needs a group, the inference worker, uses :func:`group_consumer`, whose short rebalance
  timeout makes the join take about two seconds.
* Consumers never create topics: a reader that looks too early would otherwise create the topic
  with the broker's default partition count (Tansu: several) and break single-partition topics.

Everything is kafka-python except the one hot path, the inference worker's group consumer and
answer producer (:func:`group_consumer`, :func:`idempotent_producer`): librdkafka through
``confluent-kafka``, whose network work runs in C threads. With kafka-python the worker reached
0.6 of the model's in-memory rate: its two network threads held the interpreter for 73% of the
time Python ran, and every poll and send was a hand-off between them and the prediction thread
(``docs/inference.md``). Trainings, loggers and relays move a few records a second and keep
kafka-python.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

if TYPE_CHECKING:  # only the inference worker's image installs librdkafka
    from confluent_kafka import Consumer, Producer

log = logging.getLogger(__name__)

#: Largest record value we produce; brokers and consumers are configured to accept it.
MAX_MESSAGE_BYTES = 1 << 20
#: How long a new client waits for the first broker answer before raising KafkaUnavailable.
BOOTSTRAP_TIMEOUT_MS = 10000
#: Rebalance timeout for group consumers (see module docstring). Handlers must return within it.
GROUP_REBALANCE_TIMEOUT_MS = 3000


class KafkaUnavailable(ConnectionError):
    """No broker answered at the given bootstrap address."""


def require_fast_crc() -> None:
    """Raise unless kafka-python will use the native CRC32C implementation."""
    try:
        import crc32c  # noqa: F401
    except ImportError:  # pragma: no cover - exercised only on a broken install
        raise RuntimeError(
            "the 'crc32c' package is missing: kafka-python would compute CRC32C in pure Python "
            "(about 30x slower). Install it with: .venv/bin/pip install crc32c"
        ) from None


def producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement and accepts our largest message."""
    require_fast_crc()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "max_request_size": MAX_MESSAGE_BYTES + 64 * 1024,
        "request_timeout_ms": 15000,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        "retries": 5,
    }
    options.update(overrides)
    return _connect(KafkaProducer, bootstrap, options)


def assigned_consumer(bootstrap: str, partitions: Iterable[TopicPartition] = (), **overrides: Any) -> KafkaConsumer:
    """A group-less consumer with the given partitions assigned; the caller seeks to its offsets."""
    require_fast_crc()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "allow_auto_create_topics": False,
        "auto_offset_reset": "earliest",
        "fetch_max_bytes": 64 * MAX_MESSAGE_BYTES,
        "max_partition_fetch_bytes": 8 * MAX_MESSAGE_BYTES,
        "request_timeout_ms": 15000,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }
    options.update(overrides)
    consumer = _connect(KafkaConsumer, bootstrap, options)
    partitions = list(partitions)
    if partitions:
        consumer.assign(partitions)
    return consumer


def group_consumer(bootstrap: str, group_id: str, **overrides: Any) -> Consumer:
    """A librdkafka group consumer whose join completes in seconds on Tansu (see module
    docstring: librdkafka sends ``max.poll.interval.ms`` as the rebalance timeout); offsets are
    committed by the caller only. Subscribe it with ``subscribe(topics, on_assign=, on_revoke=)``:
    librdkafka calls those within ``poll``/``consume``, on the caller's thread."""
    from confluent_kafka import Consumer

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "allow.auto.create.topics": False,
        "auto.offset.reset": "earliest",
        "max.poll.interval.ms": GROUP_REBALANCE_TIMEOUT_MS,
        "session.timeout.ms": GROUP_REBALANCE_TIMEOUT_MS,
        "heartbeat.interval.ms": GROUP_REBALANCE_TIMEOUT_MS // 3,
        "socket.timeout.ms": 15000,
        "socket.nagle.disable": True,  # as kafka-python: no small request waits on an earlier one's ack
        "logger": log,
    }
    config.update(overrides)
    return Consumer(config)


def idempotent_producer(bootstrap: str, **overrides: Any) -> Producer:
    """A librdkafka producer that writes each partition in order, exactly once per send (the
    broker drops a retried batch it already has), and accepts our largest message."""
    from confluent_kafka import Producer

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.max.bytes": MAX_MESSAGE_BYTES + 64 * 1024,
        "socket.timeout.ms": 15000,
        "socket.nagle.disable": True,
        "logger": log,
    }
    config.update(overrides)
    return Producer(config)


def admin(bootstrap: str, **overrides: Any) -> KafkaAdminClient:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": 10000,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }
    options.update(overrides)
    return _connect(KafkaAdminClient, bootstrap, options)


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request (a real readiness check)."""
    try:
        client = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            reconnect_backoff_max_ms=200,
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        client.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        client.close()


def _connect(factory: Any, bootstrap: str, options: dict[str, Any]) -> Any:
    try:
        return factory(**options)
    except (KafkaConnectionError, KafkaTimeoutError):
        raise KafkaUnavailable(f"no Kafka broker answers at {bootstrap}") from None
