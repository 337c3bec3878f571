"""Create the topics the system needs, idempotently, with the configs they need.

Topics are always created explicitly: Tansu (like Kafka with auto-creation on) would otherwise
create a topic on first write with several partitions, and a weights payload or a control log
spread over partitions loses its order. :func:`ensure_topic` creates a topic or accepts an
existing one with the same partition count, and fails with :class:`TopicError` naming the topic
and the broker's reason otherwise.

Tansu accepts nearly any request (invalid names, zero partitions), so names and partition counts
are checked here, before the broker sees them.
"""

from __future__ import annotations

import re

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from kafkaml import kafka

#: The control topics' default names (the earlier Kafka-ML's, the settings' defaults): where data
#: owners describe datasources and where the platform announces models.
DATA_CONTROL_TOPIC = "FEDERATED_DATA_CONTROL_TOPIC"
MODEL_CONTROL_TOPIC = "FEDERATED_MODEL_CONTROL_TOPIC"
#: Records up to our largest message plus headers, kept until deleted: weights must outlive the
#: training for audits, datasets are reused by several trainings, control logs are replayed.
MESSAGE_BYTES_CONFIG = {"max.message.bytes": str(kafka.MAX_MESSAGE_BYTES + 64 * 1024)}
WEIGHTS_TOPIC_CONFIG = {**MESSAGE_BYTES_CONFIG, "retention.ms": "-1", "retention.bytes": "-1"}
DATA_TOPIC_CONFIG = {**MESSAGE_BYTES_CONFIG, "retention.ms": "-1"}
CONTROL_TOPIC_CONFIG = {**MESSAGE_BYTES_CONFIG, "retention.ms": "-1"}

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class TopicError(RuntimeError):
    """A topic cannot be created or does not have the layout we need; the message says why."""


def check_topic_name(name: str) -> str:
    """Return ``name`` if Kafka accepts it as a topic name, else raise :class:`TopicError`."""
    if not isinstance(name, str) or not _LEGAL_NAME.match(name) or name in {".", ".."}:
        raise TopicError(f"{name!r} is not a valid topic name (1-249 characters of A-Z a-z 0-9 . _ -)")
    return name


def partition_count(bootstrap: str, name: str) -> int | None:
    """Partitions of ``name``, or None when the topic does not exist."""
    client = kafka.admin(bootstrap)
    try:
        described = client.describe_topics([name])
    except KafkaError as exc:
        raise TopicError(f"cannot describe topic {name!r} on {bootstrap}: {exc}") from None
    finally:
        client.close()
    for topic in described:
        if topic["name"] == name and topic["error_code"] == 0:
            return len(topic["partitions"])
    return None


def ensure_topic(bootstrap: str, name: str, *, partitions: int = 1,
                 configs: dict[str, str] | None = None) -> bool:
    """Create ``name`` with ``partitions`` and ``configs`` unless it exists; True if created.

    An existing topic is accepted only with the same partition count (its configs are not
    compared: brokers differ in what they report, and Tansu stores none).
    """
    check_topic_name(name)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise TopicError(f"topic {name!r}: partitions must be a positive integer, got {partitions!r}")
    client = kafka.admin(bootstrap)
    try:
        client.create_topics([NewTopic(name, partitions, 1, topic_configs=dict(configs or {}))])
        return True
    except TopicAlreadyExistsError:
        pass
    except KafkaError as exc:
        raise TopicError(f"the broker at {bootstrap} refused to create topic {name!r}: {exc}") from None
    finally:
        client.close()
    existing = partition_count(bootstrap, name)
    if existing != partitions:
        raise TopicError(
            f"topic {name!r} already exists on {bootstrap} with {existing} partition(s), "
            f"but {partitions} are needed; use another topic name or delete this one"
        )
    return False


def update_topic(weights_topic: str, client: str) -> str:
    """The topic of one client's updates: fixed by the client's identity (its address in lower
    case in blockchain mode, its id in classic mode), so no client can point into another's."""
    return check_topic_name(f"{weights_topic}.{client.lower()}")


def weights_topic(model_id: str) -> str:
    """The topic of a training's global versions."""
    return check_topic_name(f"kml-weights-{model_id}")
