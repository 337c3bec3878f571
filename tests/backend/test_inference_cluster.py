"""An inference deployment through the Kubernetes launcher, against the file-backed stand-in for
its API (no API server runs here), with the backend's own services on real PostgreSQL: the
Deployment it creates validates against the Kubernetes 1.32 schema, its pods are told an
``InferenceJob`` and mount the model token from the inference's own Secret; stop deletes both;
and the reconciler leaves a serving inference alone and marks a crash-looping one failed (its
Deployment and Secret deleted, its token revoked), and one abandoned mid-launch too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

from kafkaml.jobs import InferenceJob
from tests.backend.conftest import manage
from tests.backend.fake_cluster import CLUSTER_SETUP
from tests.conftest import throwaway_database

SERVE = CLUSTER_SETUP + """
import hashlib
from backend.api.models import Configuration, Deployment, Inference, TrainingResult
from backend.api.services import inferences
from backend.api.services.results import model_path
from kafkaml.services.registry.models import Datasource
jobs.launcher = FileCluster(CLUSTER).launcher
user = get_user_model().objects.create_user("cluster-user")
model = MLModel.objects.create(owner=user, name="toy", source="", status="ready", input_shape=[8])
configuration = Configuration.objects.create(owner=user, name="toy")
datasource = Datasource.objects.create(datasource_id="v", topic="v", format="RAW", counts={}, input_shape=[],
                                       message={}, sha256="0" * 64, control_topic="c", control_partition=0,
                                       control_offset=0)
deployment = Deployment.objects.create(owner=user, configuration=configuration, validation_datasource=datasource,
                                       coordination="classic", settings={}, clients={})
result = TrainingResult.objects.create(deployment=deployment, ml_model=model, federated_id="kml-1", token_sha256="",
                                       status="finished", model_sha256=hashlib.sha256(b"model").hexdigest())
model_path(result).parent.mkdir(parents=True, exist_ok=True)
model_path(result).write_bytes(b"model")
settings = inferences.InferenceSettings(replicas=3, input_format="RAW",
                                        input_config={"data_type": "float32", "data_reshape": [8]},
                                        input_topic="samples", output_topic="predictions", error_topic="errors",
                                        bootstrap_servers="", batch=None)
served, stopped = (inferences.inference_create(owner=user, result=result, settings=settings, sample_shape=(8,))
                   for _ in range(2))
inferences.inference_stop(inference=stopped)
# An API process that died mid-launch: the row created, nothing launched, long ago.
abandoned = Inference.objects.create(owner=user, result=result, replicas=1, input_format="RAW",
                                     input_config=settings.input_config, input_topic="a", output_topic="b",
                                     error_topic="c", bootstrap_servers="kafka:9092", token_sha256="0" * 64)
Inference.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(seconds=inferences.LAUNCH_S + 1))
print(json.dumps({"served": served.pk, "stopped": stopped.pk, "abandoned": abandoned.pk, "result": result.pk,
                  "status": served.status, "sha256": result.model_sha256}))
"""

RECONCILE = CLUSTER_SETUP + """
from backend.api.models import Inference
from backend.api.services import reconcile
jobs.launcher = FileCluster(CLUSTER).launcher
reconcile.reconcile()
print(json.dumps(Inference.objects.values("status", "error", "token_sha256").get(pk=int(sys.argv[2]))))
"""


def run(script: str, env: dict[str, str], *arguments: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", script, *arguments], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_an_inference_is_a_deployment_the_reconciler_follows(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    with throwaway_database() as dsn:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", "DATABASE_URL": dsn,
               "BACKEND_SECRET_KEY": "cluster-test", "KAFKAML_RUN_DIR": str(tmp_path), "JOB_LAUNCHER": "kubernetes",
               "BOOTSTRAP_SERVERS": "kafka:9092", "BACKEND_PUBLIC_URL": "http://kafka-ml-backend:8000",
               "JOB_IMAGE": "registry.example/kafka-ml/worker:0.2.0"}
        manage(env, "migrate", "--noinput")
        created = run(SERVE, env, str(cluster))
        assert created["status"] == "running"
        state = json.loads(cluster.read_text())
        (deployment,) = state["deployments"]  # the stopped inference's went
        name = f"inference-{created['served']}"
        assert deployment["metadata"]["name"] == name and deployment["spec"]["replicas"] == 3
        assert list(state["secrets"]) == [name] and state["jobs"] == []
        assert kubernetes_validate.validate(deployment, "1.32", strict=True) == "1.32"
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == "registry.example/kafka-ml/worker:0.2.0"
        assert container["command"] == ["python", "-m", "inference_worker"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        environment = {item["name"]: item["value"] for item in container["env"]}
        assert InferenceJob.from_environ(environment) == InferenceJob(
            result_id=created["result"], bootstrap_servers="kafka:9092", input_topic="samples",
            output_topic="predictions", error_topic="errors", group_id=f"kafka-ml-inference-{created['served']}",
            input_format="RAW", input_config={"data_type": "float32", "data_reshape": [8]},
            model_sha256=created["sha256"],
            model_url=f"http://kafka-ml-backend:8000/api/results/{created['result']}/model/")
        token_path = environment["INFERENCE_TOKEN_FILE"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(Path(token_path).parent)]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert mount["readOnly"] is True and volume["secret"]["secretName"] == name

        # Serving: a replica is ready, no pod is stuck; the reconciler leaves it running.
        deployment["status"] = {"replicas": 3, "readyReplicas": 3}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        running = {"metadata": {"name": f"{name}-a", "labels": labels, "creationTimestamp": "2026-12-07T08:00:00Z"},
                   "status": {"phase": "Running"}}
        cluster.write_text(json.dumps({**state, "deployments": [deployment], "pods": [running]}))
        assert run(RECONCILE, env, str(cluster), str(created["served"]))["status"] == "running"
        abandoned = run(RECONCILE, env, str(cluster), str(created["abandoned"]))
        assert abandoned["status"] == "failed" and "launch was interrupted" in abandoned["error"], abandoned
        assert abandoned["token_sha256"] == ""
        assert json.loads(cluster.read_text())["deployments"]

        # A replica crash-loops: failed, with the reason; its Deployment and Secret deleted, its token revoked.
        crashing = {"metadata": {**running["metadata"], "name": f"{name}-b"}, "status": {
            "phase": "Running", "containerStatuses": [{
                "name": "inference", "image": "i", "imageID": "", "ready": False, "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1}}}]}}
        cluster.write_text(json.dumps({**state, "deployments": [deployment], "pods": [running, crashing]}))
        ended = run(RECONCILE, env, str(cluster), str(created["served"]))
        assert ended["status"] == "failed" and ended["token_sha256"] == "", ended
        assert ended["error"].startswith(f"replica {name} ended (CrashLoopBackOff)"), ended
        assert json.loads(cluster.read_text()) == {"jobs": [], "deployments": [], "pods": [], "secrets": {}}
