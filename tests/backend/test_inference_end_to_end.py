"""An inference deployed through the REST API answers on Kafka (issue 22, item 3), end to end: a
finished training's final model (a real Keras file), an inference of two replicas created through
the API on the session's backend (its reconciler on), the real worker launched as local jobs
fetching the model with its token; every sample produced to the input topic is answered once on
the output topic with its key and the class ``model.predict`` gives, a record that is not a sample
on the error topic; then stop through the API ends the workers. A running incremental training's
served model can be deployed, and a rollout serves its newer version: the samples before it are answered by the old model, those after it by the new one,
and every sample once, those in flight during it included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from kafkaml.jobs import InferenceJob
from tests.backend.conftest import Backend
from tests.backend.test_inference_api import jobs_dir
from tests.conftest import unique
from tests.integration.test_inference_worker import Answers, new_topic, produce, save_model

SAMPLE = (8,)
RECORDS = 40


def test_samples_in_predictions_out_through_the_api(backend: Backend, tmp_path: Path) -> None:
    user = backend.as_user("inference-e2e")
    model_file = tmp_path / "final.keras"
    save_model(model_file, shape=SAMPLE)
    result = backend.finished_result("inference-e2e", model_file.read_bytes(), input_shape=SAMPLE)
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    input_topic = new_topic(bootstrap, "e2e-samples", partitions=2)
    created = user.post(f"{backend.url}/api/inferences/", json={
        "result": result, "input_format": "RAW", "input_config": {"data_type": "float32", "data_reshape": [8]},
        "input_topic": input_topic, "output_topic": unique("e2e-predictions"), "replicas": 2, "batch": 8})
    assert created.status_code == 201 and created.json()["status"] == "running", created.text
    inference = created.json()
    samples = np.random.default_rng(5).normal(size=(RECORDS, *SAMPLE)).astype(np.float32)
    records = [(f"sample-{i}".encode(), samples[i].tobytes(), i % 2) for i in range(RECORDS)]
    produce(bootstrap, input_topic, [*records, (b"not-a-sample", b"\0" * 5, 0)])

    answers = Answers(InferenceJob.from_environ(_described(backend, inference["id"])))
    try:
        deadline = time.monotonic() + 120
        while answers.read() < RECORDS + 1:
            state = user.get(f"{backend.url}/api/inferences/{inference['id']}/").json()
            assert state["status"] == "running", state  # the reconciler finds it serving, not failed
            assert time.monotonic() < deadline, f"{answers.read(0)} of {RECORDS + 1} records answered in 120 s"
        predictions, errors = answers.settled()
    finally:
        answers.close()
    expected = np.argmax(keras.saving.load_model(model_file).predict(samples, verbose=0), axis=1)
    assert sorted(answer.key for answer in predictions) == sorted(key for key, _, _ in records)  # each once
    for answer in predictions:
        index = int(answer.key.split(b"-")[1])
        assert answer.value["class"] == expected[index] and answer.partition == index % 2, answer
        assert len(answer.value["probabilities"]) == 4
    (error,) = errors
    assert error.key == b"not-a-sample" and "record of 5 bytes does not hold" in error.value["error"], error

    stopped = user.post(f"{backend.url}/api/inferences/{inference['id']}/stop/")
    assert stopped.status_code == 200 and len(stopped.json()["stopped"]) == 2, stopped.text
    assert user.get(f"{backend.url}/api/inferences/{inference['id']}/").json()["status"] == "stopped"
    assert not list(jobs_dir(backend).glob(f"inference-{inference['id']}-*"))


def _described(backend: Backend, inference_id: int) -> dict[str, str]:
    """The settings the local launcher gave the inference's first replica."""
    return json.loads((jobs_dir(backend) / f"inference-{inference_id}-0" / "job.json").read_text())["environment"]


def test_a_rollout_serves_the_newer_model_and_answers_every_sample_once(backend: Backend, tmp_path: Path) -> None:
    user = backend.as_user("inference-rollout")
    old, new = tmp_path / "old.keras", tmp_path / "new.keras"
    save_model(old, shape=SAMPLE, seed=3)
    save_model(new, shape=SAMPLE, seed=9)
    result = backend.finished_result("inference-rollout", old.read_bytes(), input_shape=SAMPLE)
    backend.running_incremental(result)  # it trains on and will serve newer versions
    bootstrap = backend.env["BOOTSTRAP_SERVERS"]
    input_topic = new_topic(bootstrap, "rollout-samples", partitions=1)
    created = user.post(f"{backend.url}/api/inferences/", json={
        "result": result, "input_format": "RAW", "input_config": {"data_type": "float32", "data_reshape": [8]},
        "input_topic": input_topic, "output_topic": unique("rollout-predictions")})
    assert created.status_code == 201 and created.json()["status"] == "running", created.text
    inference = created.json()
    rollout = f"{backend.url}/api/inferences/{inference['id']}/rollout/"
    nothing_new = user.post(rollout)
    assert nothing_new.status_code == 409 and "newest model" in nothing_new.text, nothing_new.text
    samples = np.random.default_rng(8).normal(size=(60, *SAMPLE)).astype(np.float32)

    def send(indices: range) -> None:
        produce(bootstrap, input_topic, [(f"s-{i}".encode(), samples[i].tobytes(), 0) for i in indices])

    answers = Answers(InferenceJob.from_environ(_described(backend, inference["id"])))
    try:
        send(range(0, 20))
        _wait_for(answers, 20)
        sha = backend.serve_new_model(result, new.read_bytes())
        send(range(20, 40))  # in flight while the workers are replaced
        rolled = user.post(rollout)
        assert rolled.status_code == 200 and rolled.json()["model_sha256"] == sha, rolled.text
        assert rolled.json()["status"] == "running"
        send(range(40, 60))
        _wait_for(answers, 60)
        predictions, errors = answers.settled()
    finally:
        answers.close()
        user.post(f"{backend.url}/api/inferences/{inference['id']}/stop/")
    assert not errors and sorted(a.key for a in predictions) == sorted(f"s-{i}".encode() for i in range(60))
    by_model = {name: np.argmax(keras.saving.load_model(path).predict(samples, verbose=0), axis=1)
                for name, path in (("old", old), ("new", new))}
    assert (by_model["old"] != by_model["new"]).any()  # the two models are told apart
    for answer in predictions:
        index = int(answer.key.split(b"-")[1])
        served = ["old"] if index < 20 else ["new"] if index >= 40 else ["old", "new"]
        assert answer.value["class"] in {int(by_model[name][index]) for name in served}, (index, answer)
    late = [int(a.key.split(b"-")[1]) for a in predictions if int(a.key.split(b"-")[1]) >= 40]
    assert all(int(by_model["new"][i]) == next(a.value["class"] for a in predictions if a.key == f"s-{i}".encode())
               for i in late)


def _wait_for(answers: Answers, count: int) -> None:
    deadline = time.monotonic() + 120
    while answers.read() < count:
        assert time.monotonic() < deadline, f"{answers.read(0)} of {count} samples answered in 120 s"
