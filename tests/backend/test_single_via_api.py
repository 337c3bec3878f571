"""Single and incremental trainings through the REST API only, on a live backend with real
PostgreSQL, broker and TensorFlow: each epoch appears as a round, the final metrics carry the
test split's confusion matrix, the model downloads; an incremental training takes the records
published after it started; what a single training cannot use is refused with a 400 naming the
field, before anything runs (a datasource always has a training split: a description without one is
refused when it is read)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import keras
import numpy as np
import requests

from kafkaml import kafka
from kafkaml.codecs import RawCodec
from kafkaml.local import stack as local
from kafkaml.toydata import TOY_FEATURES, TOY_MODEL_SOURCE, toy_blobs
from tests.backend.conftest import Backend
from tests.backend.platform_flow import built_model, job_logs, register_validation_datasource, wait_for
from tests.conftest import unique

EPOCHS = 3


def single_body(backend: Backend, user: requests.Session, stack: local.Stack, kind: str = "single",
                topic: str | None = None) -> dict:
    datasource = register_validation_datasource(backend, stack, unique("training-data"), validation_rate=0.2,
                                                test_rate=0.2, topic=topic)
    model = built_model(backend, user, unique("toy"), TOY_MODEL_SOURCE)
    configuration = user.post(f"{backend.url}/api/configurations/",
                              json={"name": unique("configuration"), "ml_models": [model["id"]]})
    assert configuration.status_code == 201, configuration.text
    return {"kind": kind, "configuration": configuration.json()["id"], "validation_datasource": datasource["id"],
            "epochs": EPOCHS, "batch": 16}


def test_a_single_training_through_the_api(backend: Backend, local_stack: local.Stack) -> None:
    bob = backend.as_user("bob-single")
    deployment = bob.post(f"{backend.url}/api/deployments/", json=single_body(backend, bob, local_stack))
    assert deployment.status_code == 201, deployment.text
    assert (deployment.json()["kind"], deployment.json()["coordination"], deployment.json()["clients"]) \
        == ("single", "", {})
    (result_id,) = deployment.json()["results"]
    final = wait_for(bob, backend, result_id, lambda r: r["status"] not in ("created", "running"), 180)
    assert final["status"] == "finished", f"{final}\n{job_logs(backend, result_id)}"
    assert not final["contract_address"] and not final["aggregator_address"]
    rounds = bob.get(f"{backend.url}/api/results/{result_id}/rounds/").json()
    assert [r["version"] for r in rounds] == list(range(1, EPOCHS + 1))
    assert all(r["val_loss"] is not None and r["contributions"] == [] for r in rounds)
    metrics = final["final"]["metrics"]
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == final["final"]["samples"]["test"] == 60
    assert abs(np.trace(matrix) / matrix.sum() - metrics["test_accuracy"]) < 1e-6
    download = bob.get(f"{backend.url}/api/results/{result_id}/model/")
    assert download.status_code == 200, download.text
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(download.content).hexdigest()
    path = Path(backend.run_dir) / f"single-{result_id}.keras"
    path.write_bytes(download.content)
    assert keras.models.load_model(path).output_shape[-1] == matrix.shape[0]


def test_an_incremental_training_through_the_api_takes_records_published_after_it_started(
        backend: Backend, local_stack: local.Stack) -> None:
    bob = backend.as_user("bob-incremental")
    topic = unique("incremental-data")
    body = {**single_body(backend, bob, local_stack, "incremental", topic=topic), "epochs": 1,
            "stream_timeout_s": 6, "window": 100, "monitor_metric": "val_accuracy", "monitor_mode": "max"}
    deployment = bob.post(f"{backend.url}/api/deployments/", json=body)
    assert deployment.status_code == 201, deployment.text
    (result_id,) = deployment.json()["results"]
    deadline = time.monotonic() + 120
    while not bob.get(f"{backend.url}/api/results/{result_id}/rounds/").json():
        assert time.monotonic() < deadline, job_logs(backend, result_id)
        time.sleep(0.3)
    codec = RawCodec((TOY_FEATURES,), "float32", (), "int64")
    x, y = toy_blobs(200, 3)
    producer = kafka.producer(local_stack.bootstrap("platform"))
    for sample, label in zip(x, y.astype("int64"), strict=True):
        value, key = codec.encode(sample, label)
        producer.send(topic, value=value, key=key, partition=0)
    producer.flush()
    producer.close()
    final = wait_for(bob, backend, result_id, lambda r: r["status"] not in ("created", "running"), 180)
    assert final["status"] == "finished", f"{final}\n{job_logs(backend, result_id)}"
    assert final["final"]["kind"] == "incremental" and final["final"]["increments"]["windows"] == 2, final["final"]
    served = final["final"]["increments"]["served"]
    rounds = bob.get(f"{backend.url}/api/results/{result_id}/rounds/").json()
    assert [r["version"] for r in rounds] == list(range(1, 2 + served))


def test_what_a_single_training_cannot_use_is_refused(backend: Backend, local_stack: local.Stack) -> None:
    carol = backend.as_user("carol-single")
    body = single_body(backend, carol, local_stack)
    cases = [
        ({**body, "clients": [{"identity": "client-1", "sample_ceiling": 10}]}, "clients", "has no clients"),
        ({**body, "kind": "incremental", "monitor_metric": "loss"}, "monitor_metric", "validation metric"),
        ({**body, "kind": "batch"}, "kind", "not a valid choice"),
        ({**body, "window": 0}, "window", "greater than or equal to 1"),
    ]
    before = carol.get(f"{backend.url}/api/deployments/").json()["count"]
    for sent, field, words in cases:
        answer = carol.post(f"{backend.url}/api/deployments/", json=sent)
        assert answer.status_code == 400 and words in str(answer.json().get(field)), (field, answer.text)
    assert carol.get(f"{backend.url}/api/deployments/").json()["count"] == before  # nothing was recorded
