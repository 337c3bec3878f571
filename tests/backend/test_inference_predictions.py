"""The live view of an inference's answers (``GET /api/inferences/<id>/predictions/``) against a
real broker: answers produced straight to an output topic (as a worker writes them) are counted per
class, regression answers' values returned, anything else on the topic counted as invalid and
never an error; the window keeps the newest records only, through the end Tansu under-reports;
the read is bounded in bytes; only the owner reads it, only on the platform's own Kafka."""

from __future__ import annotations

import json

from kafkaml.topic_tail import read_tail
from tests.backend.conftest import Backend
from tests.conftest import unique
from tests.integration.test_inference_worker import new_topic, produce


def answer(label: int) -> bytes:
    return json.dumps({"class": label, "probabilities": [0.1, 0.2, 0.7]}).encode()


def test_class_answers_counted_and_anything_else_invalid(backend: Backend) -> None:
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    user = backend.as_user("predictions-owner")
    result, _ = backend.dormant_result("predictions-owner")
    topic = new_topic(bootstrap, "predictions", partitions=2)
    hostile = [b"\xff\x00 not json", json.dumps({"class": True, "probabilities": []}).encode(),
               b"[" * 5000, None, json.dumps({"values": [1, "x"]}).encode(), b'{"class": 1}',
               json.dumps({"error": "record of 5 bytes", "topic": "in", "partition": 0, "offset": 1}).encode(),
               json.dumps({"class": 2, "probabilities": [1.0]}).encode() + b" " * 70_000]
    produce(bootstrap, topic, [(b"k", answer(1), 0)] * 3 + [(b"k", answer(0), 1)] * 2
            + [(b"k", answer(7), 1)] + [(b"bad", value, index % 2) for index, value in enumerate(hostile)])
    inference, _ = backend.dormant_inference(result, output_topic=topic, bootstrap_servers=bootstrap)

    answered = user.get(f"{backend.url}/api/inferences/{inference}/predictions/", params={"window": 1000})
    assert answered.status_code == 200, answered.text
    summary = answered.json()
    assert summary["classes"] == [{"class_index": 0, "count": 2}, {"class_index": 1, "count": 3},
                                  {"class_index": 7, "count": 1}]
    assert (summary["read"], summary["invalid"], summary["values"]) == (14, 8, [])
    assert summary["window"] == 1000 and summary["complete"] is True
    assert sorted((span["partition"], span["first"], span["last"]) for span in summary["partitions"]) == [
        (0, 0, 6), (1, 0, 6)]


def test_the_window_keeps_the_newest_and_regression_values(backend: Backend) -> None:
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    user = backend.as_user("predictions-owner")
    result, _ = backend.dormant_result("predictions-owner")
    topic = new_topic(bootstrap, "regression", partitions=1)
    old = [(None, json.dumps({"values": [[-1.0]]}).encode(), 0)] * 30
    new = [(None, json.dumps({"values": [[index, 0.5]]}).encode(), 0) for index in range(9)]
    wide = (None, json.dumps({"values": [list(range(20))]}).encode(), 0)
    produce(bootstrap, topic, [*old, *new, wide])  # one batch: Tansu reports its end as offset 1
    inference, _ = backend.dormant_inference(result, output_topic=topic, bootstrap_servers=bootstrap)

    summary = user.get(f"{backend.url}/api/inferences/{inference}/predictions/", params={"window": 10}).json()
    assert summary["values"] == [[float(index), 0.5] for index in range(9)] + [[float(n) for n in range(8)]]
    assert (summary["read"], summary["invalid"], summary["classes"]) == (10, 0, [])
    assert summary["partitions"] == [{"partition": 0, "first": 30, "last": 39}]
    default = user.get(f"{backend.url}/api/inferences/{inference}/predictions/").json()
    assert (default["window"], default["read"]) == (100, 40)


def test_bad_windows_strangers_other_kafkas_and_missing_topics(backend: Backend) -> None:
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    user = backend.as_user("predictions-owner")
    result, _ = backend.dormant_result("predictions-owner")
    inference, _ = backend.dormant_inference(result, output_topic=unique("never-written"),
                                             bootstrap_servers=bootstrap)
    url = f"{backend.url}/api/inferences/{inference}/predictions/"
    for window in ("0", "1001", "abc", "1e3"):
        refused = user.get(url, params={"window": window})
        assert refused.status_code == 400 and list(refused.json()) == ["window"], (window, refused.text)
    empty = user.get(url).json()
    assert (empty["read"], empty["classes"], empty["partitions"], empty["complete"]) == (0, [], [], True)
    assert backend.as_user("predictions-stranger").get(url).status_code == 404
    elsewhere, _ = backend.dormant_inference(result, output_topic="b", bootstrap_servers="kafka.example:9092")
    conflict = user.get(f"{backend.url}/api/inferences/{elsewhere}/predictions/")
    assert conflict.status_code == 409 and "another Kafka" in conflict.json()["detail"], conflict.text


def test_a_read_stops_at_its_byte_budget(backend: Backend) -> None:
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    topic = new_topic(bootstrap, "large", partitions=1)
    produce(bootstrap, topic, [(None, b"x" * 200_000, 0)] * 50)  # 10 MB: more than one fetch (4 MiB)
    whole = read_tail(bootstrap, topic, 50)
    assert (len(whole.records), whole.complete) == (50, True)
    bounded = read_tail(bootstrap, topic, 50, max_bytes=1_000_000)
    assert not bounded.complete and 0 < len(bounded.records) < 50
