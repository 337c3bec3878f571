"""The single training job on a real broker with real TensorFlow: the toy workload reaches a stated
test accuracy, every epoch is reported as a version, the confusion matrix counts every test
sample; incremental training picks up records published after it started, skips a record that is
not a sample, serves only windows that improve the monitored metric and ends after its stream
timeout; a datasource the model cannot take is refused before any training."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kafkaml import kafka
from kafkaml.builder import build_isolated
from kafkaml.codecs import RawCodec
from kafkaml.control_topics import read_control
from kafkaml.jobs import LocalJob, SingleTrainingJob
from kafkaml.messages.kinds import DataControl
from kafkaml.sinks import publish_datasource
from kafkaml.topics import DATA_CONTROL_TOPIC
from kafkaml.toydata import TOY_CLASSES, TOY_FEATURES, TOY_MODEL_SOURCE, toy_blobs
from kafkaml.workloads import Samples
from tests.conftest import unique
from tests.jobs import local_job

#: The toy clusters are well apart: a model that learned them is right nearly always.
ACCURACY = 0.9


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = build_isolated(TOY_MODEL_SOURCE, input_shape=(TOY_FEATURES,), output_shape=(TOY_CLASSES,))
    path = tmp_path_factory.mktemp("single-model") / "model.json"
    path.write_text(built.to_json())
    return path


def datasource(bootstrap: str, samples: int, *, validation_rate: float, test_rate: float) -> tuple[str, str]:
    """A toy datasource on the platform's broker: (its topic, its id)."""
    topic, datasource_id = unique("single-data"), unique("single-ds")
    x, y = toy_blobs(samples, 5)
    publish_datasource(bootstrap, topic, datasource_id, Samples(x, y), TOY_CLASSES,
                       validation_rate=validation_rate, test_rate=test_rate)
    return topic, datasource_id


def job_for(bootstrap: str, datasource_id: str, model_file: Path, results: Path, **options) -> SingleTrainingJob:
    """The job as the backend builds it: the description pinned by its place and SHA-256."""
    records = [record for record in read_control(bootstrap, DATA_CONTROL_TOPIC, expected=DataControl, to_end=True)
               if record.message.datasource_id == datasource_id]
    assert records, f"datasource {datasource_id} is not described"
    return SingleTrainingJob(
        data_bootstrap_servers=bootstrap, datasource_id=datasource_id, data_control_topic=DATA_CONTROL_TOPIC,
        datasource_sha256=hashlib.sha256(records[-1].raw).hexdigest(), datasource_partition=0,
        datasource_offset=records[-1].offset, epochs=3, batch=32, results_dir=str(results), seed=1,
        model_architecture_file=str(model_file), **options)


def run(tmp_path: Path, name: str, job: SingleTrainingJob) -> LocalJob:
    return local_job(tmp_path, name, job.MODULE, job.environment()).start()


def progress(results: Path) -> list[dict]:
    path = results / "progress.jsonl"
    return [json.loads(line)["data"] for line in path.read_text().splitlines()] if path.exists() else []


def test_a_single_training_reaches_its_accuracy_and_counts_every_test_sample(local_stack, model_file, tmp_path):
    bootstrap = local_stack.bootstrap("platform")
    _, datasource_id = datasource(bootstrap, 1000, validation_rate=0.2, test_rate=0.2)
    results = tmp_path / "results"
    job = run(tmp_path, "single", job_for(bootstrap, datasource_id, model_file, results))
    assert job.wait(timeout_s=180) == 0, job.log_tail()
    epochs = progress(results)
    assert [epoch["version"] for epoch in epochs] == [1, 2, 3]
    assert all(epoch["val_loss"] is not None for epoch in epochs)
    final = json.loads((results / "final.json").read_text())["data"]
    metrics = final["metrics"]
    assert metrics["test_accuracy"] >= ACCURACY, metrics
    assert final["samples"] == {"train": 600, "validation": 200, "test": 200}
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (TOY_CLASSES, TOY_CLASSES) and matrix.sum() == 200
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert len(metrics["history"]["loss"]) == 3 and final["kind"] == "single"
    assert (results / "model.keras").stat().st_size > 0


def test_an_incremental_training_takes_new_records_skips_bad_ones_and_ends_after_its_timeout(
        local_stack, model_file, tmp_path):
    bootstrap = local_stack.bootstrap("platform")
    topic, datasource_id = datasource(bootstrap, 400, validation_rate=0.25, test_rate=0.0)
    results = tmp_path / "results"
    job = run(tmp_path, "incremental", replace(
        job_for(bootstrap, datasource_id, model_file, results), epochs=1, incremental=True, stream_timeout_s=8.0,
        window=150, monitor_metric="val_loss", monitor_mode="min", improvement=0.0))
    deadline = time.monotonic() + 120
    while not progress(results) and time.monotonic() < deadline:
        assert job.exit_code() is None, job.log_tail()
        time.sleep(0.2)
    assert progress(results), "the first epoch was never reported"
    # Published after the job started: two windows of 150 and a record that is no sample between them.
    codec = RawCodec((TOY_FEATURES,), "float32", (), "int64")
    x, y = toy_blobs(300, 11)
    producer = kafka.producer(bootstrap)
    for index, (sample, label) in enumerate(zip(x, y.astype("int64"), strict=True)):
        if index == 150:
            producer.send(topic, value=b"not a sample", key=b"?", partition=0)
        value, key = codec.encode(sample, label)
        producer.send(topic, value=value, key=key, partition=0)
    producer.flush()
    producer.close()
    assert job.wait(timeout_s=180) == 0, job.log_tail()
    final = json.loads((results / "final.json").read_text())["data"]
    increments = final["increments"]
    assert increments["windows"] == 2 and increments["skipped_records"] == 1, increments
    assert 1 <= increments["served"] <= 2 and final["kind"] == "incremental"
    versions = [record["version"] for record in progress(results)]
    assert versions == list(range(1, 2 + increments["served"])), versions  # the epoch, then each served window
    assert "not a sample of the datasource, skipped" in job.log_path.read_text()


def test_a_datasource_the_model_cannot_take_is_refused_before_training(local_stack, tmp_path):
    bootstrap = local_stack.bootstrap("platform")
    _, datasource_id = datasource(bootstrap, 200, validation_rate=0.2, test_rate=0.0)
    wider = TOY_MODEL_SOURCE.replace(f"keras.Input(shape=({TOY_FEATURES},))", f"keras.Input(shape=({TOY_FEATURES + 1},))")
    wrong = build_isolated(wider, input_shape=(TOY_FEATURES + 1,), output_shape=(TOY_CLASSES,))
    model = tmp_path / "wrong.json"
    model.write_text(wrong.to_json())
    results = tmp_path / "results"
    job = run(tmp_path, "wrong-shape", job_for(bootstrap, datasource_id, model, results))
    assert job.wait(timeout_s=120) == 2
    assert "does not match the data's" in job.log_path.read_text()
    assert not (results / "progress.jsonl").exists()
