"""Inference deployments through the REST API (issue 22, item 3), on a live backend and real
PostgreSQL: only a finished training with a final model can be served (409); every bad setting is
a 400 naming its field, with nothing recorded; a launch starts one local process group per
replica, told what to do by an ``InferenceJob`` environment and given its model token as a file,
which downloads that result's model and nothing else; stop ends the replicas and revokes the
token; delete only an ended one; users see and act on their own only.

This module's backend does not reconcile (``BACKEND_RECONCILE_INTERVAL_S=0``): what its workers
do with the made-up model file here does not change what the API says. The reconciler's part is
in ``test_inference_cluster.py``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kafkaml.jobs import InferenceJob
from kafkaml.local import stack as local
from tests.backend.conftest import Backend, running_backend
from tests.backend.test_platform_cli import cli_of
from tests.conftest import throwaway_database, unique

MODEL = b"the final model's bytes"
RAW = {"input_format": "RAW", "input_config": {"data_type": "float32", "data_reshape": [8]}}


@pytest.fixture(scope="module")
def quiet_backend(local_stack: local.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with throwaway_database() as dsn, running_backend(local_stack, dsn, tmp_path_factory.mktemp("inference"),
                                                      settings={"BACKEND_RECONCILE_INTERVAL_S": "0"}) as running:
        yield running


def body(result: int, **changes: Any) -> dict[str, Any]:
    return {"result": result, **RAW, "input_topic": unique("samples"), "output_topic": unique("predictions"),
            **changes}


def jobs_dir(backend: Backend) -> Path:
    return backend.run_dir / "platform-jobs" / "jobs"


def test_only_a_finished_training_with_a_model_can_be_served(quiet_backend: Backend) -> None:
    backend = quiet_backend
    user = backend.as_user("inference-owner")
    running, _ = backend.dormant_result("inference-owner")
    refused = user.post(f"{backend.url}/api/inferences/", json=body(running))
    assert refused.status_code == 409 and "only a finished training" in refused.json()["detail"], refused.text
    finished = backend.finished_result("inference-owner", MODEL)
    stranger = backend.as_user("inference-stranger")
    theirs = stranger.post(f"{backend.url}/api/inferences/", json=body(finished))
    assert theirs.status_code == 400 and list(theirs.json()) == ["result"], theirs.text
    assert user.get(f"{backend.url}/api/inferences/").json()["count"] == 0  # nothing was recorded


BAD = {
    "input_topic": ({"input_topic": "samples!"}, "input_topic"),
    "dot topic": ({"output_topic": ".."}, "output_topic"),
    "long topic": ({"output_topic": "p" * 250}, "output_topic"),
    "long default error topic": ({"output_topic": "p" * 243}, "error_topic"),
    "same topics": ({"input_topic": "same", "output_topic": "same"}, "output_topic"),
    "error is input": ({"input_topic": "same", "error_topic": "same"}, "error_topic"),
    "no replicas": ({"replicas": 0}, "replicas"),
    "too many replicas": ({"replicas": 33}, "replicas"),
    "format": ({"input_format": "CSV"}, "input_format"),
    "config type": ({"input_config": {"data_type": "complex512", "data_reshape": [8]}}, "input_config"),
    "config key": ({"input_config": {"data_type": "float32", "data_reshape": [8], "datatype": "x"}}, "input_config"),
    "config shape": ({"input_config": {"data_type": "float32", "data_reshape": [0]}}, "input_config"),
    "not the model's shape": ({"input_config": {"data_type": "float32", "data_reshape": [2, 4]}}, "input_config"),
    "servers": ({"bootstrap_servers": "http://kafka:9092"}, "bootstrap_servers"),
    "batch": ({"batch": 0}, "batch"),
    "topic type": ({"input_topic": 7}, "input_topic"),
}


def test_every_bad_setting_is_a_400_naming_its_field(quiet_backend: Backend) -> None:
    backend = quiet_backend
    user = backend.as_user("inference-careless")
    result = backend.finished_result("inference-careless", MODEL)
    for case, (change, field) in BAD.items():
        answer = user.post(f"{backend.url}/api/inferences/", json=body(result, **change))
        assert answer.status_code == 400 and list(answer.json()) == [field], (case, answer.text)
    shape = user.post(f"{backend.url}/api/inferences/", json=body(result, **BAD["not the model's shape"][0]))
    assert "describes samples of shape (2, 4); the model takes (8,)" in shape.json()["input_config"][0]
    key = user.post(f"{backend.url}/api/inferences/", json=body(result, **BAD["config key"][0]))
    assert "unknown keys ['datatype']" in key.json()["input_config"][0], key.text
    assert user.get(f"{backend.url}/api/inferences/").json()["count"] == 0


def test_a_launch_runs_each_replica_told_by_its_contract_and_stop_revokes_its_token(quiet_backend: Backend) -> None:
    backend = quiet_backend
    user = backend.as_user("inference-user")
    result = backend.finished_result("inference-user", MODEL)
    request = body(result, replicas=2, batch=16, input_format="AVRO", input_config={"data_scheme": {
        "type": "record", "name": "sample", "fields": [{"name": f"x{i}", "type": "float"} for i in range(8)]}})
    created = user.post(f"{backend.url}/api/inferences/", json=request)
    assert created.status_code == 201, created.text
    inference = created.json()
    assert inference["status"] == "running" and inference["error_topic"] == f"{request['output_topic']}-errors"
    assert inference["bootstrap_servers"] == backend.env["BOOTSTRAP_SERVERS"]  # the platform's by default
    name = f"inference-{inference['id']}"
    described = [json.loads((jobs_dir(backend) / f"{name}-{index}" / "job.json").read_text()) for index in (0, 1)]
    assert [job["labels"]["kafka-ml/replica"] for job in described] == ["0", "1"]
    assert {job["labels"]["app.kubernetes.io/component"] for job in described} == {"inference"}
    assert {job["labels"]["kafka-ml/training"] for job in described} == {str(result)}
    assert described[0]["argv"][1:] == ["-m", "inference_worker"]
    environment = described[0]["environment"]
    assert described[1]["environment"] == environment  # one consumer group, one contract
    assert InferenceJob.from_environ(environment) == InferenceJob(
        result_id=result, bootstrap_servers=backend.env["BOOTSTRAP_SERVERS"], input_topic=request["input_topic"],
        output_topic=request["output_topic"], error_topic=f"{request['output_topic']}-errors",
        group_id=f"kafka-ml-inference-{inference['id']}", input_format="AVRO", input_config=request["input_config"],
        model_sha256=hashlib.sha256(MODEL).hexdigest(), model_url=f"{backend.url}/api/results/{result}/model/",
        batch=16)
    token_file = Path(environment["INFERENCE_TOKEN_FILE"])
    token = token_file.read_text()
    assert token not in json.dumps(environment) and token_file.stat().st_mode & 0o077 == 0

    worker = requests.Session()
    worker.headers["Authorization"] = f"Job {token}"
    download = worker.get(f"{backend.url}/api/results/{result}/model/")
    assert download.status_code == 200 and download.content == MODEL, download.text
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(MODEL).hexdigest()
    other = backend.finished_result("inference-user", b"another model")
    assert worker.get(f"{backend.url}/api/results/{other}/model/").status_code == 403  # its own result's only
    assert worker.get(f"{backend.url}/api/results/{result}/").status_code in (401, 403)  # nothing else
    assert worker.get(f"{backend.url}/api/inferences/").status_code in (401, 403)

    refused = user.delete(f"{backend.url}/api/inferences/{inference['id']}/")
    assert refused.status_code == 409 and "stop it" in refused.json()["detail"], refused.text
    busy = user.delete(f"{backend.url}/api/results/{result}/")
    assert busy.status_code == 409 and "inference" in busy.json()["detail"], busy.text
    stopped = user.post(f"{backend.url}/api/inferences/{inference['id']}/stop/")
    assert stopped.status_code == 200 and stopped.json() == {"stopped": [f"{name}-0", f"{name}-1"]}, stopped.text
    after = user.get(f"{backend.url}/api/inferences/{inference['id']}/").json()
    assert after["status"] == "stopped" and after["stopped_at"] is not None, after
    assert not list(jobs_dir(backend).glob(f"{name}-*")) and not token_file.exists()
    assert worker.get(f"{backend.url}/api/results/{result}/model/").status_code == 403  # revoked
    again = user.post(f"{backend.url}/api/inferences/{inference['id']}/stop/")
    assert again.status_code == 409 and "stopped" in again.json()["detail"], again.text
    assert user.delete(f"{backend.url}/api/inferences/{inference['id']}/").status_code == 204
    assert user.get(f"{backend.url}/api/inferences/{inference['id']}/").status_code == 404
    assert user.delete(f"{backend.url}/api/results/{result}/").status_code == 204  # nothing of it runs now


def test_users_see_and_act_on_their_own_inferences_only(quiet_backend: Backend) -> None:
    backend = quiet_backend
    owner, other = backend.as_user("inference-tenant"), backend.as_user("inference-neighbour")
    result = backend.finished_result("inference-tenant", MODEL)
    created = owner.post(f"{backend.url}/api/inferences/", json=body(result))
    assert created.status_code == 201, created.text
    pk = created.json()["id"]
    for answer in (other.get(f"{backend.url}/api/inferences/{pk}/"),
                   other.post(f"{backend.url}/api/inferences/{pk}/stop/"),
                   other.post(f"{backend.url}/api/inferences/{pk}/rollout/"),
                   other.delete(f"{backend.url}/api/inferences/{pk}/")):
        assert answer.status_code == 404, answer.text
    assert other.get(f"{backend.url}/api/inferences/").json() == {"count": 0, "next": None, "previous": None,
                                                                  "results": []}
    listed = owner.get(f"{backend.url}/api/inferences/", params={"limit": 1}).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == pk and listed["results"][0]["status"] == "running"
    assert backend.admin().get(f"{backend.url}/api/inferences/{pk}/").status_code == 200  # staff see everyone's
    assert owner.post(f"{backend.url}/api/inferences/{pk}/stop/").status_code == 200


def test_the_replicas_a_user_runs_at_once_are_capped_with_429(quiet_backend: Backend) -> None:
    """The default quota is 8 replicas per user, all their inferences together; staff may exceed it."""
    backend = quiet_backend
    user = backend.as_user("inference-greedy")
    result = backend.finished_result("inference-greedy", MODEL)
    first = user.post(f"{backend.url}/api/inferences/", json=body(result, replicas=6))
    assert first.status_code == 201, first.text
    refused = user.post(f"{backend.url}/api/inferences/", json=body(result, replicas=3))
    assert refused.status_code == 429 and "at most 8 at once" in refused.json()["detail"], refused.text
    fits = user.post(f"{backend.url}/api/inferences/", json=body(result, replicas=2))
    assert fits.status_code == 201, fits.text
    for inference in (first.json(), fits.json()):
        assert user.post(f"{backend.url}/api/inferences/{inference['id']}/stop/").status_code == 200


def test_inferences_through_the_cli(quiet_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture) -> None:
    backend = quiet_backend
    cli = cli_of(backend, "inference-cli", tmp_path, monkeypatch, capsys)
    running, _ = backend.dormant_result("inference-cli")
    config = json.dumps(RAW["input_config"])
    code, out, err = cli("infer", str(running), "--input-config", config, "--input-topic", "in", "--output-topic", "out")
    assert code == 2 and out == "" and "→ 409 Conflict: the training is running" in err, err
    result = backend.finished_result("inference-cli", MODEL)
    code, out, err = cli("infer", str(result), "--input-config", config, "--input-topic", "in", "--output-topic", "in")
    assert code == 2 and "400 Bad Request: output_topic: must differ from the input topic" in err, err
    code, out, _ = cli("--json", "infer", str(result), "--input-config", config, "--input-topic", "cli-in",
                       "--output-topic", "cli-out", "--replicas", "2", "--batch", "8")
    assert code == 0, out
    inference = json.loads(out)
    assert (inference["replicas"], inference["batch"], inference["error_topic"]) == (2, 8, "cli-out-errors")
    code, out, _ = cli("inferences", "list")
    assert code == 0 and f"{inference['id']} " in out and "running" in out and "cli-in" in out, out
    code, out, _ = cli("inferences", "show", str(inference["id"]))
    assert code == 0 and f"inference {inference['id']} of training result {result}" in out, out
    code, _, err = cli("inferences", "rollout", str(inference["id"]))
    assert code == 2 and "409 Conflict: the inference already serves the training's newest model" in err, err
    code, _, err = cli("inferences", "delete", str(inference["id"]))
    assert code == 2 and "409 Conflict" in err and "stop it" in err, err
    code, out, _ = cli("inferences", "stop", str(inference["id"]))
    assert code == 0 and out == f"stopped inference-{inference['id']}-0, inference-{inference['id']}-1\n", out
    code, out, _ = cli("inferences", "delete", str(inference["id"]))
    assert code == 0 and out == f"deleted inference {inference['id']}\n", out
    code, _, err = cli("inferences", "show", str(inference["id"]))
    assert code == 2 and "404" in err, err
