"""The inference worker against a real broker with real TensorFlow: every input answered exactly
once (keys kept) across a crash between flush and commit and a kill mid-stream, two replicas
splitting the partitions, bad records answered on the error topic, a model that is not the pinned
one refused, and predictions equal to ``model.predict``."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pytest
from kafka import TopicPartition
from kafka.admin import NewTopic

from inference_worker.answers import OFFSET_HEADER, REPLICA_HEADER
from inference_worker.worker import MODEL_BATCHES_IN_FLIGHT
from kafkaml import kafka
from kafkaml.faults import FAULT_EXIT_CODE
from kafkaml.jobs import InferenceJob, LocalJob
from tests.conftest import records_in, unique
from tests.jobs import local_job

SHAPE = (2, 3)
CONFIG = {"data_type": "float32", "data_reshape": "2 3"}


@dataclass(frozen=True)
class Answer:
    topic: str
    partition: int
    key: bytes | None
    offset: int
    replica: bytes
    value: dict


def save_model(path: Path, *, softmax: bool = True, shape: tuple[int, ...] = SHAPE, seed: int = 3) -> str:
    """A tiny model saved as the aggregator saves one; its SHA-256."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=shape), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax" if softmax else None)])
    model.save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def samples(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, *SHAPE)).astype(np.float32)


def new_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    topic = unique(prefix)
    admin = kafka.admin(bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    admin.close()
    return topic


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None, int]]) -> dict[bytes, int]:
    """Send (key, value, partition) records in order; the offset each key landed at."""
    producer = kafka.producer(bootstrap)
    futures = [(key, producer.send(topic, key=key, value=value, partition=partition))
               for key, value, partition in records]
    producer.flush()
    offsets = {key: future.get(timeout=10).offset for key, future in futures}
    producer.close()
    return offsets


class Answers:
    """Every record a deployment's output and error topics receive, read as they come: their
    reported end offsets cannot be trusted (Tansu: the last batch's base offset + 1)."""

    def __init__(self, job: InferenceJob) -> None:
        self.job = job
        self.consumer = kafka.assigned_consumer(job.output_bootstrap_servers or job.bootstrap_servers)
        self.found: dict[str, list[Answer]] = {job.output_topic: [], job.error_topic: []}

    def read(self, timeout_ms: int = 200) -> int:
        """Poll once; how many answers were read in all."""
        if not self.consumer.assignment():
            partitions = [TopicPartition(topic, p) for topic in self.found
                          for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
            if {tp.topic for tp in partitions} != set(self.found):
                time.sleep(timeout_ms / 1000)
                return 0
            self.consumer.assign(partitions)
            self.consumer.seek_to_beginning()
        for tp, records in self.consumer.poll(timeout_ms=timeout_ms).items():
            for record in records:
                heads = dict(record.headers)
                self.found[tp.topic].append(Answer(tp.topic, tp.partition, record.key, int(heads[OFFSET_HEADER]),
                                                   heads[REPLICA_HEADER], json.loads(record.value)))
        return sum(len(found) for found in self.found.values())

    def settled(self) -> tuple[list[Answer], list[Answer]]:
        """(predictions, errors) once a second passed without a new answer (a duplicate would come now)."""
        while True:
            before = self.read(0)
            if self.read(1000) == before:
                return self.found[self.job.output_topic], self.found[self.job.error_topic]

    def close(self) -> None:
        self.consumer.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, *jobs: LocalJob) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for job in jobs:
            assert job.exit_code() is None, f"{job.name} ended: {job.log_tail()}"
        assert time.monotonic() < deadline, f"{what} not within {timeout_s} s; " + \
            " ".join(job.log_tail() for job in jobs)
        time.sleep(0.1)


@pytest.fixture
def deployment(platform_bootstrap: str, tmp_path: Path) -> Callable[..., InferenceJob]:
    """An inference job on fresh topics (input with ``partitions``) answering with a tiny model."""
    def make(partitions: int, **changes) -> InferenceJob:
        model_path = tmp_path / f"model-{unique('m')}.keras"
        sha = save_model(model_path)
        job = InferenceJob(
            result_id=1, bootstrap_servers=platform_bootstrap,
            input_topic=new_topic(platform_bootstrap, "inference-in", partitions),
            output_topic=unique("inference-out"), error_topic=unique("inference-err"),
            group_id=unique("inference-group"), input_format="RAW", input_config=CONFIG, model_sha256=sha,
            model_file=str(model_path), batch=16, batch_wait_ms=10)
        return replace(job, **changes)
    return make


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., LocalJob]]:
    """Starts inference workers as local jobs; each is stopped after the test."""
    started: list[LocalJob] = []

    def start(job: InferenceJob, name: str, **extra: str) -> LocalJob:
        worker = local_job(tmp_path, name, "inference_worker", {**job.environment(), **extra}).start()
        started.append(worker)
        return worker
    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def answers_of() -> Iterator[Callable[[InferenceJob], Answers]]:
    readers: list[Answers] = []

    def make(job: InferenceJob) -> Answers:
        readers.append(Answers(job))
        return readers[-1]
    yield make
    for reader in readers:
        reader.close()


def test_every_input_is_answered_exactly_once_across_a_crash_and_a_kill(deployment, workers, answers_of) -> None:
    """The first worker crashes after flushing its first batch's answers, before committing them;
    the second is killed mid-stream while records still arrive; the third finishes: each input
    has one answer, with its key, on the partition of its number, and nothing was answered twice."""
    job = deployment(partitions=2)
    total, first = 300, 100
    records = [(f"k-{i}".encode(), sample.tobytes(), i % 2) for i, sample in enumerate(samples(total))]
    offsets = produce(job.bootstrap_servers, job.input_topic, records[:first])
    answers = answers_of(job)

    crashed = workers(job, "crash", KAFKAML_FAULT_POINT="inference.after_flush")
    assert crashed.wait(timeout_s=120) == FAULT_EXIT_CODE, crashed.log_tail()
    flushed = len(answers.settled()[0])
    # Before its first commit the worker answers what is done when it first looks: the batches in
    # the model and the one it has just put there, if that one finished meanwhile too.
    assert 0 < flushed <= (MODEL_BATCHES_IN_FLIGHT + 1) * job.batch, "the crash came after a flush and before any commit"

    killed = workers(job, "killed")
    stop = threading.Event()

    def stream() -> None:
        for start in range(first, total, 10):
            offsets.update(produce(job.bootstrap_servers, job.input_topic, records[start:start + 10]))
            if stop.wait(0.05):
                return
    writer = threading.Thread(target=stream)
    wait_until(lambda: answers.read() >= first, 120, "the first records answered", killed)
    writer.start()
    wait_until(lambda: answers.read() >= first + 60, 60, "answers while the stream runs", killed)
    killed.kill()
    assert writer.is_alive(), "the stream ended before the kill: not a kill mid-stream"
    writer.join(timeout=60)
    assert len(answers.settled()[0]) < total

    finishing = workers(job, "finishing")
    wait_until(lambda: answers.read() >= total, 120, "every record answered", finishing)
    found, errors = answers.settled()
    assert errors == []
    assert sorted(answer.key for answer in found) == sorted(key for key, _, _ in records)
    by_key = {answer.key: answer for answer in found}
    for key, _, partition in records:
        assert (by_key[key].partition, by_key[key].offset) == (partition, offsets[key])
    skipped = [int(count) for count in re.findall(r"\((\d+) input\(s\) past it answered already\)",
                                                  killed.log_tail(200))]
    assert sum(skipped) == flushed, "the second run skipped exactly what the first had flushed"
    assert len({answer.replica for answer in found}) == 3, "each of the three runs answered some"


def test_two_replicas_split_the_partitions(deployment, workers, answers_of) -> None:
    job = deployment(partitions=4)
    first, second = workers(job, "replica-1"), workers(job, "replica-2")

    def assignments() -> list[set[int]]:
        return [_last_assignment(replica.log_tail(200)) for replica in (first, second)]
    wait_until(lambda: all(assignments()) and set.union(*assignments()) == {0, 1, 2, 3}
               and not set.intersection(*assignments()), 60, "a split of the four partitions", first, second)
    records = [(f"k-{i}".encode(), sample.tobytes(), i % 4) for i, sample in enumerate(samples(200))]
    produce(job.bootstrap_servers, job.input_topic, records)
    answers = answers_of(job)
    wait_until(lambda: answers.read() >= len(records), 60, "every record answered", first, second)
    found, _ = answers.settled()
    assert sorted(answer.key for answer in found) == sorted(key for key, _, _ in records)  # all, none twice
    replicas = {answer.partition: {a.replica for a in found if a.partition == answer.partition} for answer in found}
    assert all(len(writers) == 1 for writers in replicas.values()), replicas  # each partition, one replica
    assert len(set.union(*replicas.values())) == 2, "both replicas answered"


def _last_assignment(log: str) -> set[int]:
    lines = [line for line in log.splitlines() if "assigned partitions" in line]
    return set(json.loads(lines[-1].split("assigned partitions ", 1)[1])) if lines else set()


def test_bad_records_are_answered_on_the_error_topic_and_the_good_ones_around_them(deployment, workers,
                                                                                 answers_of) -> None:
    job = deployment(partitions=1)
    good = samples(4)
    nan = np.full(SHAPE, np.nan, np.float32)
    records = [(b"good-0", good[0].tobytes(), 0), (b"short", b"\0" * 7, 0), (b"good-1", good[1].tobytes(), 0),
               (None, b"\0" * 25, 0), (b"empty", None, 0), (b"good-2", good[2].tobytes(), 0),
               (b"nan", nan.tobytes(), 0), (b"huge", b"\0" * 900_000, 0), (b"good-3", good[3].tobytes(), 0)]
    offsets = produce(job.bootstrap_servers, job.input_topic, records)
    worker = workers(job, "bad-input")
    answers = answers_of(job)
    wait_until(lambda: answers.read() >= len(records), 60, "every record answered", worker)
    predictions, error_answers = answers.settled()
    assert [answer.key for answer in predictions] == [b"good-0", b"good-1", b"good-2", b"good-3"]
    errors = {answer.key: answer for answer in error_answers}
    assert set(errors) == {b"short", None, b"empty", b"nan", b"huge"}
    expected = {b"short": "record of 7 bytes does not hold a (2, 3) float32 sample (24 bytes)",
                None: "record of 25 bytes does not hold", b"empty": "record of no value does not hold",
                b"nan": "not finite", b"huge": "record of 900000 bytes does not hold"}
    for key, reason in expected.items():
        value = errors[key].value
        assert reason in value["error"], value
        assert (value["topic"], value["partition"], value["offset"]) == (job.input_topic, 0, errors[key].offset)
    assert errors[b"short"].offset == offsets[b"short"] and errors[b"huge"].offset == offsets[b"huge"]
    assert worker.exit_code() is None, "bad records never stop the worker"


@pytest.mark.parametrize("problem", ["sha256", "not-keras", "input-shape", "lambda"])
def test_a_model_that_is_not_the_pinned_one_or_cannot_answer_is_refused(deployment, workers, tmp_path: Path,
                                                                        problem: str) -> None:
    job = deployment(partitions=1)
    path = Path(job.model_file)
    if problem == "sha256":
        job = replace(job, model_sha256="0" * 64)
        reason = f"SHA-256 {hashlib.sha256(path.read_bytes()).hexdigest()}, MODEL_SHA256 pins {'0' * 64}: refused"
    elif problem == "not-keras":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature: a legacy loader would take it
        job = replace(job, model_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        reason = "not a Keras v3 .keras archive"
    elif problem == "input-shape":
        job = replace(job, model_sha256=save_model(path, shape=(3, 2)))
        reason = "the model's input shape (3, 2) does not match the data's (2, 3)"
    else:
        model = keras.Sequential([keras.Input(shape=SHAPE), keras.layers.Lambda(lambda x: x * 2)])
        model.save(path)
        job = replace(job, model_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        reason = "Lambda"
    worker = workers(job, f"refused-{problem}")
    assert worker.wait(timeout_s=120) == 2, worker.log_tail()
    assert reason in worker.log_tail(), worker.log_tail()
    assert records_in(job.bootstrap_servers, job.output_topic) == 0


class _ModelServer(http.server.BaseHTTPRequestHandler):
    """The backend's model download, reduced to its token check."""

    model = b""
    token = ""

    def do_GET(self) -> None:  # noqa: N802 (the handler's name)
        if self.headers.get("Authorization") != f"Job {self.token}":
            self.send_response(403)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.model)))
        self.end_headers()
        self.wfile.write(self.model)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[tuple[str, type[_ModelServer]]]:
    handler = type("Handler", (_ModelServer,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/results/1/model/", handler
    server.shutdown()


def test_predictions_equal_model_predict_with_the_model_fetched_by_url(deployment, workers, answers_of, model_server,
                                                                       tmp_path: Path) -> None:
    url, handler = model_server
    job = deployment(partitions=2)
    handler.model, handler.token = Path(job.model_file).read_bytes(), "s3cret"
    (tmp_path / "token").write_text("s3cret\n")
    job = replace(job, model_file=None, model_url=url, batch=7)
    x = samples(30, seed=5)
    produce(job.bootstrap_servers, job.input_topic, [(f"k-{i}".encode(), s.tobytes(), i % 2) for i, s in enumerate(x)])
    worker = workers(job, "by-url", INFERENCE_TOKEN_FILE=str(tmp_path / "token"))
    answers = answers_of(job)
    wait_until(lambda: answers.read() >= len(x), 60, "every record answered", worker)
    expected = keras.models.load_model(_saved(handler.model, tmp_path)).predict(x, verbose=0)
    predictions, _ = answers.settled()
    assert len(predictions) == len(x)
    for answer in predictions:
        index = int(answer.key.decode().split("-")[1])
        assert answer.value["class"] == int(np.argmax(expected[index]))
        np.testing.assert_allclose(answer.value["probabilities"], expected[index], rtol=1e-5, atol=1e-6)

    (tmp_path / "wrong").write_text("guess")
    wrong = workers(replace(job, group_id=unique("g")), "wrong-token", INFERENCE_TOKEN_FILE=str(tmp_path / "wrong"))
    assert wrong.wait(timeout_s=120) == 2 and "answered 403" in wrong.log_tail()


def _saved(model: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "expected.keras"
    path.write_bytes(model)
    return path


def test_a_model_without_softmax_answers_values(tmp_path: Path) -> None:
    from inference_worker.model import Predictor

    save_model(tmp_path / "regression.keras", softmax=False)
    model = keras.models.load_model(tmp_path / "regression.keras")
    predictor = Predictor(model, SHAPE)
    x = samples(3)
    outputs = predictor.predict(x)
    np.testing.assert_allclose(outputs, model.predict(x, verbose=0), rtol=1e-6)
    assert not predictor.classifier
    assert predictor.answers(outputs) == [{"values": output.tolist()} for output in outputs]
    # A batch's outputs that are not finite have no answer; the others keep their places.
    mixed = np.array([[1.0, 2.0], [np.inf, 0.0], [3.0, np.nan], [4.0, 5.0]], np.float32)
    assert predictor.answers(mixed) == [{"values": [1.0, 2.0]}, None, None, {"values": [4.0, 5.0]}]
    assert predictor.answers(np.empty((0,), np.float32)) == []


def test_sigterm_ends_the_worker_after_answering_and_committing(deployment, workers, answers_of) -> None:
    """Stopped, the worker exits 0 with its inputs answered and committed: the next worker resumes
    past them with nothing to skip."""
    job = deployment(partitions=2)
    records = [(f"k-{i}".encode(), sample.tobytes(), i % 2) for i, sample in enumerate(samples(40))]
    produce(job.bootstrap_servers, job.input_topic, records)
    answers = answers_of(job)
    worker = workers(job, "stopped")
    wait_until(lambda: answers.read() >= len(records), 60, "every record answered", worker)
    worker.stop(grace_s=30)
    assert worker.exit_code() == 0, worker.log_tail()
    assert "stopped: every input taken is answered and committed" in worker.log_tail()
    following = workers(job, "following")
    wait_until(lambda: following.log_tail().count("resumes at offset") == 2, 60, "the next worker's resume", following)
    assert "partition 0: resumes at offset 20 (0 input(s) past it answered already)" in following.log_tail()
    assert "partition 1: resumes at offset 20 (0 input(s) past it answered already)" in following.log_tail()


def test_avro_samples_are_answered_and_a_record_of_another_schema_is_an_error(deployment, workers,
                                                                                answers_of) -> None:
    import io

    import fastavro

    schema = {"type": "record", "name": "Iq", "fields": [{"name": "i", "type": {"type": "array", "items": "float"}},
                                                          {"name": "q", "type": {"type": "array", "items": "float"}}]}
    job = replace(deployment(partitions=1), input_format="AVRO",
                  input_config={"data_scheme": json.dumps(schema), "data_reshape": [2, 3]})
    parsed, x = fastavro.parse_schema(schema), samples(3)

    def avro(record: dict) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()
    records = [(f"k-{n}".encode(), avro({"i": sample[0].tolist(), "q": sample[1].tolist()}), 0)
               for n, sample in enumerate(x)]
    records.insert(1, (b"short", avro({"i": [1.0], "q": [2.0]}), 0))
    produce(job.bootstrap_servers, job.input_topic, records)
    answers = answers_of(job)
    worker = workers(job, "avro")
    wait_until(lambda: answers.read() >= len(records), 60, "every record answered", worker)
    predictions, errors = answers.settled()
    expected = keras.models.load_model(job.model_file).predict(x, verbose=0)
    assert [answer.key for answer in predictions] == [b"k-0", b"k-1", b"k-2"]
    for index, answer in enumerate(predictions):
        np.testing.assert_allclose(answer.value["probabilities"], expected[index], rtol=1e-5, atol=1e-6)
    assert [(answer.key, answer.value["error"]) for answer in errors] == \
        [(b"short", "sample holds 2 numbers, its declared shape (2, 3) holds 6")]
