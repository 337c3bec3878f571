"""The data control logger against the live backend: every record registered exactly once, also
what arrived while the logger or the backend was down; malformed records recorded as rejected
with their reason and skipped; the earlier Kafka-ML's format registered too."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from kafkaml import kafka
from kafkaml.jobs.local import LocalJob
from kafkaml.local import stack as local
from kafkaml.relay import Registry
from kafkaml.relay_records import EXCERPT_BYTES, MAX_DESCRIPTION_BYTES, MAX_RECORD_BYTES
from kafkaml.sinks import publish_datasource
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic
from kafkaml.toydata import toy_blobs
from kafkaml.workloads import Samples
from tests.backend.conftest import Backend
from tests.backend.hostile_records import hostile_records, produce
from tests.conftest import unique
from tests.jobs import local_job, logged

LEGACY = {"topic": "legacy-data:0:0:100", "input_format": "RAW",
          "input_config": {"data_type": "float32", "label_type": "int64", "data_reshape": "8", "label_reshape": ""},
          "validation_rate": 0.1, "test_rate": 0.0, "total_msg": 100, "description": "earlier Kafka-ML sink"}


def start_logger(backend: Backend, bootstrap: str, topic: str, directory: Path, name: str = "data-logger") -> LocalJob:
    token_file = directory / "token"
    token_file.write_text(backend.relay_token)
    env = {"DATA_BOOTSTRAP_SERVERS": bootstrap, "DATA_CONTROL_TOPIC": topic,
           "REGISTRY_URL": f"{backend.url}/api/datasources/register/", "REGISTRY_TOKEN_FILE": str(token_file)}
    return local_job(directory, name, "data_control_logger", env).start()


def registered(backend: Backend, topic: str) -> list[dict]:
    answer = backend.admin().get(f"{backend.url}/api/datasources/", params={"limit": 500}).json()["results"]
    return sorted((d for d in answer if d["control_topic"] == topic), key=lambda d: d["control_offset"])


def rejected(backend: Backend, topic: str) -> list[dict]:
    answer = backend.admin().get(f"{backend.url}/api/datasources/rejected/", params={"limit": 500}).json()
    return sorted((r for r in answer["results"] if r["control_topic"] == topic), key=lambda r: r["control_offset"])


def wait_until(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def publish(bootstrap: str, topic: str, name: str) -> None:
    publish_datasource(bootstrap, unique("kml-data"), name, Samples(*toy_blobs(40, 1)), 3, validation_rate=0.5,
                       control_topic=topic)


def test_nothing_lost_nothing_doubled_bad_records_rejected(backend: Backend, local_stack: local.Stack,
                                                           tmp_path: Path) -> None:
    bootstrap, topic = local_stack.bootstrap("platform"), unique("data-control")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    logger = start_logger(backend, bootstrap, topic, tmp_path)
    try:
        publish(bootstrap, topic, "first")
        wait_until(lambda: [d["datasource_id"] for d in registered(backend, topic)] == ["first"], "first")
        logger.stop()  # SIGTERM: it finishes the record in hand and exits
        assert logger.exit_code() == 0
        publish(bootstrap, topic, "while-logger-down")
        producer = kafka.producer(bootstrap)
        producer.send(topic, json.dumps(LEGACY).encode(), partition=0).get(timeout=10)
        producer.send(topic, b"{not json", partition=0).get(timeout=10)
        producer.send(topic, json.dumps({"kind": "data_control", "version": 1}).encode(), partition=0).get(timeout=10)
        producer.close()
        logger = start_logger(backend, bootstrap, topic, tmp_path, "data-logger-restarted")
        wait_until(lambda: len(registered(backend, topic)) == 3 and len(rejected(backend, topic)) == 2,
                   "the records sent while the logger was down")
        backend.stop(grace_s=0)  # the backend goes away: the logger waits, never skips
        publish(bootstrap, topic, "while-backend-down")
        wait_until(lambda: logged(logger, f"could not deliver {topic}@5 "),
                   "the logger trying to deliver the record while the backend is down")
        backend.start()
        wait_until(lambda: len(registered(backend, topic)) == 4, "the record sent while the backend was down")
        logger.stop()
        logger = start_logger(backend, bootstrap, topic, tmp_path, "data-logger-again")  # a restart replays nothing
        wait_until(lambda: logged(logger, f"relaying {topic} from offset 6 "),
                   "the restarted logger resuming after the six records")
    finally:
        logger.stop()
        if not backend.pid:
            backend.start()
    names = [d["datasource_id"] for d in registered(backend, topic)]
    assert names[0] == "first" and names[1] == "while-logger-down" and names[3] == "while-backend-down"
    assert names[2].startswith("legacy-") and len(names) == len(set(names)) == 4
    legacy = registered(backend, topic)[2]
    assert legacy["counts"] == {"train": 90, "validation": 10, "test": 0} and legacy["input_shape"] == [8]
    reasons = [r["reason"] for r in rejected(backend, topic)]
    assert len(reasons) == 2 and "not valid JSON" in reasons[0] and "is required" in reasons[1]
    offsets = [d["control_offset"] for d in registered(backend, topic)] + [r["control_offset"] for r in rejected(backend, topic)]
    assert sorted(offsets) == list(range(6)), offsets


def test_no_record_stops_the_logger(backend: Backend, local_stack: local.Stack, tmp_path: Path) -> None:
    """Issue 18: one empty record on the platform's data control topic stopped its logger for good
    (the registry answered 400, the relay exited, and resumed at the same record on restart)."""
    bootstrap, topic = local_stack.bootstrap("platform"), unique("data-control")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    valid = json.dumps(LEGACY).encode()
    hostile = hostile_records(valid, largest=MAX_DESCRIPTION_BYTES)
    produce(bootstrap, topic, [(record.value, record.headers) for record in hostile] + [(valid, [])])
    logger = start_logger(backend, bootstrap, topic, tmp_path)
    try:
        wait_until(lambda: len(registered(backend, topic)) == 1 or logger.exit_code() is not None,
                   "the valid record after the hostile ones")
        assert logger.exit_code() is None, logger.log_tail()
    finally:
        logger.stop()
    assert [d["control_offset"] for d in registered(backend, topic)] == [len(hostile)]
    # What the UI's datasources page shows, as any signed-in user sees it.
    shown = backend.as_user("datasources-viewer").get(f"{backend.url}/api/datasources/rejected/",
                                                      params={"limit": 500}).json()["results"]
    rejections = sorted((r for r in shown if r["control_topic"] == topic), key=lambda r: r["control_offset"])
    assert [r["control_offset"] for r in rejections] == list(range(len(hostile)))
    for record, rejection in zip(hostile, rejections, strict=True):
        assert record.reason in rejection["reason"], (record.what, rejection)
        value = (record.value or b"") if record.readable else b""
        assert rejection["size"] == len(value) and rejection["sha256"] == hashlib.sha256(value).hexdigest()
        assert len(rejection["excerpt"]) <= 4 * EXCERPT_BYTES, record.what


def test_a_record_too_large_to_deliver_is_rejected_by_its_summary(backend: Backend) -> None:
    """The relay sends at most MAX_RECORD_BYTES of a record (a broker may allow larger ones than
    ours): beyond, its summary — size, SHA-256, the first bytes, why — is recorded as rejected."""
    topic = unique("data-control")
    registry = Registry(f"{backend.url}/api/datasources/register/", backend.relay_token)
    value = b"{" + b"x" * MAX_RECORD_BYTES
    answer = registry.deliver(topic, 0, 0, value, [("trace", b"t")])
    assert answer["status"] == "rejected" and "a relay delivers at most" in answer["reason"], answer
    (kept,) = rejected(backend, topic)
    assert kept["size"] == len(value) and kept["sha256"] == hashlib.sha256(value).hexdigest()
    assert kept["excerpt"] == "{" + "x" * (EXCERPT_BYTES - 1)
    assert registry.next_offset(topic, 0) == 1
