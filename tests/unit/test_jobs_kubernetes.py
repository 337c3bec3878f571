"""The Kubernetes launcher, offline: every Job (and a service's Deployment) it sends validates
against the Kubernetes 1.32 OpenAPI schema, and its calls on a stand-in for the API carry the right namespace, label
selectors and deletion policy. No API server is involved (none runs here)."""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import kubernetes_validate
import pytest
from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    BatchV1Api,
    Configuration,
    CoreV1Api,
    V1DeploymentList,
    V1JobList,
    V1PodList,
    V1Secret,
)
from kubernetes.client.exceptions import ApiException

from kafkaml.jobs import (
    LABEL_JOB,
    LABEL_TRAINING,
    JobError,
    JobExists,
    JobSpec,
    JobState,
    Resources,
    SecretFile,
)
from kafkaml.jobs.kubernetes_launcher import KubernetesApi, KubernetesLauncher, namespace_from_environment
from kafkaml.jobs.manifest import PodSecurity

NAMESPACE = "kml-platform"
WALLET = SecretFile("training-42-aggregator", "key", "/var/run/secrets/kafka-ml/wallet/key")
TOKEN = SecretFile("result-42-token", "token", "/var/run/secrets/kafka-ml/token/token")


def spec(**changes: Any) -> JobSpec:
    fields = {"name": "agg-42", "role": "aggregator", "owner": "platform-backend", "training": "42",
              "image": "registry.example/kafka-ml/worker:0.1.0", "module": "training_worker.aggregator",
              "environment": {"BOOTSTRAP_SERVERS": "kafka:9092", "AGG_STRATEGY_PARAMS": '{"alpha": 0.6}'},
              "secret_files": {"ETH_WALLET_KEY": WALLET}}
    return JobSpec(**{**fields, **changes})


SPECS = {
    "aggregator": spec(active_deadline_s=86_400, backoff_limit=2),
    "trainer": spec(name="trainer-42-client-1", role="trainer", owner="federated-backend",
                    module="training_worker.trainer", resources=Resources("1", "2Gi", "4", "8Gi"),
                    service_account="kafka-ml-jobs", secret_files={"ETH_WALLET_KEY": WALLET, "RESULTS_TOKEN": TOKEN}),
    "builder": spec(name="build-model-7", role="builder", training="model-7", module="kafkaml.builder",
                    environment={}, secret_files={}),
    "audit": spec(name="audit-42", role="audit", module="", command=["kafkaml", "audit", "--recompute"],
                  ttl_after_finished_s=7 * 86_400),
    "inference": spec(name="infer-42", role="inference", module="training_worker.inference", secret_files={}),
}
#: A long-running service: an inference worker's replicas, with its model token as a Secret file.
SERVICE = spec(name="inference-7", role="inference", training="42", module="inference_worker", replicas=3,
               backoff_limit=0, service_account="kafka-ml-jobs",
               secret_files={"INFERENCE_TOKEN": SecretFile("inference-7", "inference-token",
                                                          "/var/run/kafka-ml/token/inference-token")})


class StandIn:
    """The ``BatchV1Api``, ``CoreV1Api`` and ``AppsV1Api`` methods the launcher calls, answering
    like an API server.

    Each call is bound to the real client method's signature first, so a misspelt or missing
    argument fails here as it would against the real client; then it is recorded.
    """

    def __init__(self, jobs: Sequence[dict] = (), pods: Sequence[dict] = (), logs: dict[str, str] | None = None,
                 deployments: Sequence[dict] = ()) -> None:
        self.jobs, self.pods, self.pod_logs = list(jobs), list(pods), logs or {}
        self.deployments = list(deployments)
        self.secrets: dict[str, dict] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: dict[str, ApiException] = {}

    def _record(self, api: type, method: str, kwargs: dict[str, Any]) -> None:
        inspect.signature(getattr(api, method)).bind(None, **kwargs)
        self.calls.append((method, kwargs))
        if method in self.fail_with:
            raise self.fail_with[method]

    def create_namespaced_job(self, **kwargs: Any) -> None:
        self._record(BatchV1Api, "create_namespaced_job", kwargs)

    def list_namespaced_job(self, **kwargs: Any) -> V1JobList:
        self._record(BatchV1Api, "list_namespaced_job", kwargs)
        return V1JobList.from_dict({"items": _select(self.jobs, kwargs["label_selector"])})

    def delete_namespaced_job(self, **kwargs: Any) -> None:
        self._record(BatchV1Api, "delete_namespaced_job", kwargs)

    def create_namespaced_deployment(self, **kwargs: Any) -> None:
        self._record(AppsV1Api, "create_namespaced_deployment", kwargs)

    def list_namespaced_deployment(self, **kwargs: Any) -> V1DeploymentList:
        self._record(AppsV1Api, "list_namespaced_deployment", kwargs)
        return V1DeploymentList.from_dict({"items": _select(self.deployments, kwargs["label_selector"])})

    def delete_namespaced_deployment(self, **kwargs: Any) -> None:
        self._record(AppsV1Api, "delete_namespaced_deployment", kwargs)

    def list_namespaced_pod(self, **kwargs: Any) -> V1PodList:
        self._record(CoreV1Api, "list_namespaced_pod", kwargs)
        return V1PodList.from_dict({"items": _select(self.pods, kwargs["label_selector"])})

    def create_namespaced_secret(self, **kwargs: Any) -> None:
        self._record(CoreV1Api, "create_namespaced_secret", kwargs)
        self.secrets[kwargs["body"]["metadata"]["name"]] = kwargs["body"]

    def read_namespaced_secret(self, **kwargs: Any) -> V1Secret:
        self._record(CoreV1Api, "read_namespaced_secret", kwargs)
        if kwargs["name"] not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return V1Secret(data=self.secrets[kwargs["name"]]["data"])

    def replace_namespaced_secret(self, **kwargs: Any) -> None:
        self._record(CoreV1Api, "replace_namespaced_secret", kwargs)

    def delete_namespaced_secret(self, **kwargs: Any) -> None:
        self._record(CoreV1Api, "delete_namespaced_secret", kwargs)

    def read_namespaced_pod_log(self, **kwargs: Any) -> str:
        self._record(CoreV1Api, "read_namespaced_pod_log", kwargs)
        if kwargs["name"] not in self.pod_logs:
            raise ApiException(status=400, reason="Bad Request")  # container still waiting
        return self.pod_logs[kwargs["name"]]


def _select(objects: list[dict], label_selector: str) -> list[dict]:
    wanted = dict(term.split("=", 1) for term in label_selector.split(","))
    return [obj for obj in objects if wanted.items() <= obj["metadata"]["labels"].items()]


def launcher(stand_in: StandIn, *, services: bool = True) -> KubernetesLauncher:
    """The launcher on the stand-in; ``services=False``: a caller that runs none (no apps/v1 API)."""
    api = KubernetesApi(batch=stand_in, core=stand_in, apps=stand_in if services else None)
    return KubernetesLauncher(api=api, namespace=NAMESPACE)


@pytest.mark.parametrize("role", sorted(SPECS))
def test_every_job_validates_against_the_kubernetes_1_32_schema(role: str) -> None:
    manifest = launcher(StandIn()).manifest(SPECS[role])
    assert kubernetes_validate.validate(manifest, "1.32", strict=True) == "1.32"


def test_the_schema_check_catches_a_malformed_job() -> None:
    """Guard against a vacuous validation: the same check refuses a misspelt or mistyped field."""
    manifest = launcher(StandIn()).manifest(SPECS["aggregator"])
    misspelt = copy.deepcopy(manifest)
    misspelt["spec"]["template"]["spec"]["restartPolicies"] = "Never"
    mistyped = copy.deepcopy(manifest)
    mistyped["spec"]["backoffLimit"] = "two"
    for broken in (misspelt, mistyped):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, "1.32", strict=True)


def test_job_pods_are_locked_down() -> None:
    manifest = KubernetesLauncher(api=KubernetesApi(None, None), namespace=NAMESPACE,
                                  security=PodSecurity(run_as_user=2000, run_as_group=3000)).manifest(SPECS["trainer"])
    job, pod = manifest["spec"], manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert manifest["metadata"]["namespace"] == NAMESPACE
    assert manifest["metadata"]["labels"] == job["template"]["metadata"]["labels"] == SPECS["trainer"].all_labels
    assert job["ttlSecondsAfterFinished"] >= 86_400 and job["backoffLimit"] == 0 and "activeDeadlineSeconds" not in job
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "kafka-ml-jobs"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 3000,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}
    assert container["command"] == ["python", "-m", "training_worker.trainer"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_secrets_are_read_only_files_named_by_file_variables() -> None:
    manifest = launcher(StandIn()).manifest(SPECS["trainer"])
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["ETH_WALLET_KEY_FILE"] == "/var/run/secrets/kafka-ml/wallet/key"
    assert env["RESULTS_TOKEN_FILE"] == "/var/run/secrets/kafka-ml/token/token"
    assert "ETH_WALLET_KEY" not in env and "RESULTS_TOKEN" not in env
    assert all(set(item) == {"name", "value"} for item in container["env"])  # plain values only, no secretKeyRef
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for secret in (WALLET, TOKEN):
        mount = mounts[secret.directory]
        assert mount["readOnly"] is True
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret.secret and source["defaultMode"] == 0o400
        assert source["items"] == [{"key": secret.key, "path": Path(secret.path).name, "mode": 0o400}]


def test_launch_creates_the_job_in_the_namespace() -> None:
    stand_in = StandIn()
    handle = launcher(stand_in).launch(SPECS["aggregator"])
    assert stand_in.calls == [("create_namespaced_job",
                               {"namespace": NAMESPACE, "body": launcher(stand_in).manifest(SPECS["aggregator"])})]
    assert handle.selector == {LABEL_JOB: "agg-42"}


def test_a_taken_name_and_other_api_failures_are_typed_errors() -> None:
    stand_in = StandIn()
    stand_in.fail_with["create_namespaced_job"] = ApiException(status=409, reason="Conflict")
    with pytest.raises(JobExists):
        launcher(stand_in).launch(SPECS["aggregator"])
    stand_in.fail_with["create_namespaced_job"] = ApiException(status=403, reason="Forbidden")
    with pytest.raises(JobError, match="answered 403 Forbidden"):
        launcher(stand_in).launch(SPECS["aggregator"])


def job(name: str, training: str, status: dict[str, Any]) -> dict[str, Any]:
    labels = spec(name=name, training=training).all_labels
    return {"metadata": {"name": name, "labels": labels}, "status": status}


def pod(job_name: str, training: str, name: str, created: str, status: dict[str, Any]) -> dict[str, Any]:
    labels = {**spec(name=job_name, training=training).all_labels, "batch.kubernetes.io/job-name": job_name}
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created}, "status": status}


def terminated(code: int) -> dict[str, Any]:
    return {"phase": "Failed" if code else "Succeeded", "containerStatuses": [
        {"name": "aggregator", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": code}}}]}


CLUSTER_JOBS = [
    job("done", "42", {"startTime": "2026-11-30T10:00:00Z", "completionTime": "2026-11-30T10:05:00Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}),
    job("crashed", "42", {"startTime": "2026-11-30T10:00:00Z", "conditions": [
        {"type": "FailureTarget", "status": "True"},
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "lastTransitionTime": "2026-11-30T10:02:00Z"}]}),
    job("busy", "42", {"startTime": "2026-11-30T10:00:00Z", "active": 1}),
    job("queued", "42", {}),
    job("other-training", "43", {"active": 1}),
]
CLUSTER_PODS = [
    pod("done", "42", "done-a", "2026-11-30T10:00:00Z", terminated(0)),
    pod("crashed", "42", "crashed-a", "2026-11-30T10:00:00Z", terminated(1)),
    pod("crashed", "42", "crashed-b", "2026-11-30T10:01:00Z", terminated(3)),
    pod("busy", "42", "busy-a", "2026-11-30T10:00:00Z", {"phase": "Running"}),
    pod("queued", "42", "queued-a", "2026-11-30T10:00:00Z", {"phase": "Pending"}),
]
SELECTOR_42 = "app.kubernetes.io/part-of=kafka-ml,kafka-ml/training=42"


def test_status_selects_by_labels_and_reads_states_and_exit_codes() -> None:
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS)
    statuses = {status.name: status for status in launcher(stand_in).status({LABEL_TRAINING: "42"})}
    assert stand_in.calls == [(method, {"namespace": NAMESPACE, "label_selector": SELECTOR_42})
                              for method in ("list_namespaced_job", "list_namespaced_deployment", "list_namespaced_pod")]
    assert sorted(statuses) == ["busy", "crashed", "done", "queued"]
    assert (statuses["done"].state, statuses["done"].exit_code) == (JobState.SUCCEEDED, 0)
    assert statuses["done"].finished_at.isoformat() == "2026-11-30T10:05:00+00:00"
    crashed = statuses["crashed"]
    # The exit code is the newest pod's.
    assert (crashed.state, crashed.exit_code, crashed.reason) == (JobState.FAILED, 3, "BackoffLimitExceeded")
    assert crashed.finished_at.isoformat() == "2026-11-30T10:02:00+00:00"
    assert statuses["busy"].state is JobState.RUNNING and statuses["busy"].exit_code is None
    assert statuses["queued"].state is JobState.PENDING and statuses["queued"].started_at is None
    assert statuses["busy"].labels[LABEL_TRAINING] == "42"


def test_logs_come_from_each_jobs_pods() -> None:
    logs = {"done-a": "round 5\n", "crashed-a": "boom\n", "crashed-b": "bang\n"}
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS, logs=logs)
    logs = launcher(stand_in).logs({LABEL_TRAINING: "42"}, tail_lines=20)
    assert logs["done"] == "round 5\n"
    assert logs["crashed"] == "--- pod crashed-a ---\nboom\n\n--- pod crashed-b ---\nbang\n"
    assert logs["queued"] == ""  # the API answers 400 while the container waits
    reads = [kwargs for method, kwargs in stand_in.calls if method == "read_namespaced_pod_log"]
    assert {"name": "done-a", "namespace": NAMESPACE, "tail_lines": 20} in reads
    assert sorted(logs) == ["busy", "crashed", "done", "queued"]
    assert stand_in.calls[:3] == [(method, {"namespace": NAMESPACE, "label_selector": SELECTOR_42})
                                  for method in ("list_namespaced_job", "list_namespaced_deployment",
                                                 "list_namespaced_pod")]


def test_a_job_without_pods_yet_has_empty_logs() -> None:
    assert launcher(StandIn([job("fresh", "42", {})])).logs({LABEL_TRAINING: "42"}) == {"fresh": ""}


def test_stop_deletes_the_selected_jobs_with_their_pods() -> None:
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS)
    stopped = launcher(stand_in).stop({LABEL_TRAINING: "42", "app.kubernetes.io/component": "aggregator"})
    selector = "app.kubernetes.io/component=aggregator," + SELECTOR_42
    assert stand_in.calls[0] == ("list_namespaced_job", {"namespace": NAMESPACE, "label_selector": selector})
    deletes = [kwargs for method, kwargs in stand_in.calls if method == "delete_namespaced_job"]
    assert deletes == [{"name": name, "namespace": NAMESPACE, "propagation_policy": "Foreground"}
                       for name in ("done", "crashed", "busy", "queued")]
    assert stopped == ["busy", "crashed", "done", "queued"]


def test_stop_tolerates_a_job_already_gone_and_refuses_an_empty_selector() -> None:
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS)
    stand_in.fail_with["delete_namespaced_job"] = ApiException(status=404, reason="Not Found")
    assert launcher(stand_in).stop({LABEL_JOB: "busy"}) == ["busy"]
    with pytest.raises(ValueError, match="empty selector"):
        launcher(stand_in).stop({})


def test_a_selector_value_cannot_add_a_term() -> None:
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS)
    with pytest.raises(ValueError, match="label 'kafka-ml/training'"):
        launcher(stand_in).stop({LABEL_TRAINING: "42,kafka-ml/job!=x"})
    assert stand_in.calls == []


def test_namespace_comes_from_the_downward_api_or_the_service_account(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    assert namespace_from_environment({"POD_NAMESPACE": "kml-client-a"}, namespace_file) == "kml-client-a"
    with pytest.raises(JobError, match="set POD_NAMESPACE from the downward API"):
        namespace_from_environment({}, namespace_file)
    namespace_file.write_text("kml-platform\n")
    assert namespace_from_environment({}, namespace_file) == "kml-platform"
    # The platform's jobs and their Secrets go to a namespace of their own when one is named.
    assert namespace_from_environment({"JOB_NAMESPACE": "kml-jobs", "POD_NAMESPACE": "kml-platform"},
                                      namespace_file) == "kml-jobs"


class Transport:
    """Stands in for the HTTP layer under the real generated client: records each request and
    answers with JSON, so the real ``BatchV1Api``/``CoreV1Api`` build URLs, queries and bodies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []

    def request(self, method: str, url: str, headers: Any = None, body: Any = None, post_params: Any = None,
                _request_timeout: Any = None) -> Any:
        parsed = urlsplit(url)
        query = dict(parse_qsl(parsed.query))
        self.requests.append((method, parsed.path, query, body))
        if parsed.path.endswith("/log"):
            return _Response(b"line\n", "text/plain")
        if method == "POST":  # the object created, as the API server answers
            return _Response(json.dumps(body).encode(), "application/json")
        listed: list[dict[str, Any]] = []
        if parsed.path.endswith("/jobs") and "labelSelector" in query:
            listed = [job("done", "42", {})]
        elif parsed.path.endswith("/deployments"):
            listed = [service_object("inference-7", "42", {})]
        elif parsed.path.endswith("/pods"):
            listed = [pod("done", "42", "done-a", "2026-11-30T10:00:00Z", {"phase": "Running"})]
        return _Response(json.dumps({"items": listed}).encode(), "application/json")


class _Response:
    status, reason = 200, "OK"

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data, self.headers = data, {"content-type": content_type}

    def read(self) -> bytes:
        return self.data


def test_the_real_client_accepts_the_calls() -> None:
    """The same calls through the real client classes: the requests it would put on the wire."""
    api_client = ApiClient(Configuration(host="https://kubernetes.invalid"))
    api_client.rest_client = transport = Transport()
    cluster = KubernetesLauncher(api=KubernetesApi(BatchV1Api(api_client), CoreV1Api(api_client)), namespace=NAMESPACE)
    cluster.launch(SPECS["aggregator"])
    cluster.stop({LABEL_TRAINING: "42"})
    assert cluster.logs({LABEL_TRAINING: "42"}, tail_lines=5) == {"done": "line\n"}
    jobs = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    selected = {"labelSelector": SELECTOR_42}
    assert transport.requests == [
        ("POST", jobs, {}, cluster.manifest(SPECS["aggregator"])),
        ("GET", jobs, selected, None),
        ("DELETE", f"{jobs}/done", {"propagationPolicy": "Foreground"}, None),
        ("GET", jobs, selected, None),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods", selected, None),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/done-a/log", {"tailLines": "5"}, None),
    ]


def test_secrets_are_created_valid_replaced_when_they_exist_and_deleted() -> None:
    stand_in = StandIn()
    launcher(stand_in).put_secret("training-7", {"key": b"\x01secret", "model.json": b"{}"}, {"kafka-ml/training": "7"})
    method, call = stand_in.calls[-1]
    assert method == "create_namespaced_secret" and call["namespace"] == NAMESPACE
    body = call["body"]
    assert kubernetes_validate.validate(body, "1.32", strict=True) == "1.32"
    assert body["data"] == {"key": "AXNlY3JldA==", "model.json": "e30="}
    assert body["metadata"]["labels"] == {"kafka-ml/training": "7", "app.kubernetes.io/part-of": "kafka-ml"}
    stand_in.fail_with["create_namespaced_secret"] = ApiException(status=409, reason="Conflict")
    launcher(stand_in).put_secret("training-7", {"key": b"new"}, {})
    assert stand_in.calls[-1][0] == "replace_namespaced_secret"
    stand_in.fail_with["delete_namespaced_secret"] = ApiException(status=404, reason="Not Found")
    launcher(stand_in).delete_secret("training-7")  # gone already: fine
    assert stand_in.calls[-1] == ("delete_namespaced_secret", {"name": "training-7", "namespace": NAMESPACE})


def test_a_secret_reads_back_what_was_put_in_it() -> None:
    """What the backend reads after a training's job ended (its aggregator key, to sweep the
    account): the bytes it put there, None for a missing key or secret."""
    stand_in = StandIn()
    launcher(stand_in).put_secret("training-8", {"aggregator.key": b"0xabc\x00"}, {})
    assert launcher(stand_in).read_secret("training-8", "aggregator.key") == b"0xabc\x00"
    assert stand_in.calls[-1] == ("read_namespaced_secret", {"name": "training-8", "namespace": NAMESPACE})
    assert launcher(stand_in).read_secret("training-8", "other") is None
    assert launcher(stand_in).read_secret("training-9", "aggregator.key") is None


# --- long-running services: an inference worker's Deployment ----------------------------------


def test_a_service_deployment_validates_against_the_kubernetes_1_32_schema() -> None:
    manifest = launcher(StandIn()).manifest(SERVICE)
    assert manifest["kind"] == "Deployment" and manifest["apiVersion"] == "apps/v1"
    assert kubernetes_validate.validate(manifest, "1.32", strict=True) == "1.32"
    misspelt = copy.deepcopy(manifest)
    misspelt["spec"]["replica"] = 3  # the same check refuses what the schema does not have
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, "1.32", strict=True)


def test_a_service_runs_its_replicas_in_the_pod_a_job_gets() -> None:
    """The Deployment's pod is a Job's pod (same user, read-only root, no capabilities, seccomp,
    service account without token, the token as a read-only Secret file), restarted always."""
    security = PodSecurity(run_as_user=2000, run_as_group=3000)
    cluster = KubernetesLauncher(api=KubernetesApi(None, None), namespace=NAMESPACE, security=security)
    manifest = cluster.manifest(SERVICE)
    deployment, template = manifest["spec"], manifest["spec"]["template"]
    pod = template["spec"]
    job_pod = cluster.manifest(spec(secret_files=SERVICE.secret_files, module="inference_worker",
                                    service_account="kafka-ml-jobs", role="inference",
                                    name="inference-7"))["spec"]["template"]["spec"]
    assert {**pod, "restartPolicy": "Never"} == job_pod | {"containers": pod["containers"]}
    assert pod["restartPolicy"] == "Always" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 3000,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = pod["containers"]
    assert container["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert container["command"] == ["python", "-m", "inference_worker"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["INFERENCE_TOKEN_FILE"] == "/var/run/kafka-ml/token/inference-token" and "INFERENCE_TOKEN" not in env
    (secret,) = [volume["secret"] for volume in pod["volumes"] if "secret" in volume]
    assert secret["secretName"] == "inference-7" and secret["defaultMode"] == 0o400
    assert deployment["replicas"] == 3 and deployment["strategy"] == {"type": "Recreate"}
    # The selector picks this service's pods only, and its pods carry what it selects.
    assert deployment["selector"]["matchLabels"] == {"app.kubernetes.io/part-of": "kafka-ml",
                                                     LABEL_JOB: "inference-7"}
    assert deployment["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["labels"] == manifest["metadata"]["labels"] == SERVICE.all_labels


def test_a_job_is_never_sent_as_a_deployment_nor_a_service_as_a_job() -> None:
    from kafkaml.jobs.manifest import deployment_manifest, job_manifest

    with pytest.raises(ValueError, match="becomes a Deployment"):
        job_manifest(SERVICE, NAMESPACE)
    with pytest.raises(ValueError, match="not a long-running service"):
        deployment_manifest(SPECS["aggregator"], NAMESPACE)


def test_launching_a_service_creates_its_deployment_and_stop_deletes_it() -> None:
    stand_in = StandIn(deployments=[service_object("inference-7", "42", {})])
    cluster = launcher(stand_in)
    handle = cluster.launch(SERVICE)
    assert stand_in.calls == [("create_namespaced_deployment", {"namespace": NAMESPACE,
                                                                "body": cluster.manifest(SERVICE)})]
    assert cluster.stop(handle.selector) == ["inference-7"]
    assert ("delete_namespaced_deployment", {"name": "inference-7", "namespace": NAMESPACE,
                                             "propagation_policy": "Foreground"}) in stand_in.calls
    stand_in.fail_with["delete_namespaced_deployment"] = ApiException(status=404, reason="Not Found")
    assert cluster.stop(handle.selector) == ["inference-7"]  # gone already: what stop wanted
    stand_in.fail_with["create_namespaced_deployment"] = ApiException(status=409, reason="Conflict")
    with pytest.raises(JobExists):
        cluster.launch(SERVICE)


def test_a_launcher_without_the_apps_api_refuses_a_service_and_never_lists_deployments() -> None:
    """A federated client's backend runs no service, and its Role grants nothing on Deployments."""
    stand_in = StandIn(CLUSTER_JOBS, CLUSTER_PODS)
    cluster = launcher(stand_in, services=False)
    with pytest.raises(JobError, match="runs no long-running services"):
        cluster.launch(SERVICE)
    cluster.status({LABEL_TRAINING: "42"})
    cluster.stop({LABEL_TRAINING: "42"})
    assert not [method for method, _ in stand_in.calls if "deployment" in method]


def service_object(name: str, training: str, status: dict[str, Any], created: str = "2026-11-30T10:00:00Z") -> dict:
    labels = spec(name=name, training=training, role="inference").all_labels
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created}, "status": status,
            "spec": {"selector": {"matchLabels": {LABEL_JOB: name}}, "template": {"metadata": {"labels": labels}}}}


def waiting(reason: str, last_exit: int | None = None) -> dict[str, Any]:
    container = {"name": "inference", "image": "i", "imageID": "", "ready": False, "restartCount": 4,
                 "state": {"waiting": {"reason": reason}}}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": last_exit}}
    return {"phase": "Running", "containerStatuses": [container]}


def test_a_services_state_comes_from_its_rollout_and_its_pods() -> None:
    stalled = {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                               "lastTransitionTime": "2026-11-30T10:10:00Z"}]}
    services = [service_object("serving", "42", {"replicas": 2, "readyReplicas": 2}),
                service_object("starting", "42", {"replicas": 2}),
                service_object("crashing", "42", {"replicas": 1}),
                service_object("stalled", "42", stalled)]
    pods = [pod("serving", "42", "serving-a", "2026-11-30T10:00:00Z", {"phase": "Running"}),
            pod("crashing", "42", "crashing-a", "2026-11-30T10:00:00Z", waiting("CrashLoopBackOff", last_exit=2))]
    statuses = {status.name: status for status in launcher(StandIn(pods=pods, deployments=services)).status(
        {LABEL_TRAINING: "42"})}
    assert statuses["serving"].state is JobState.RUNNING
    assert statuses["serving"].started_at.isoformat() == "2026-11-30T10:00:00+00:00"
    assert statuses["starting"].state is JobState.PENDING
    crashing = statuses["crashing"]
    assert (crashing.state, crashing.reason, crashing.exit_code) == (JobState.FAILED, "CrashLoopBackOff", 2)
    assert (statuses["stalled"].state, statuses["stalled"].reason) == (JobState.FAILED, "ProgressDeadlineExceeded")
    assert statuses["stalled"].finished_at.isoformat() == "2026-11-30T10:10:00+00:00"


def test_a_services_logs_are_its_replicas_tails() -> None:
    pods = [pod("serving", "42", "serving-a", "2026-11-30T10:00:00Z", {"phase": "Running"}),
            pod("serving", "42", "serving-b", "2026-11-30T10:00:01Z", {"phase": "Running"})]
    stand_in = StandIn(pods=pods, deployments=[service_object("serving", "42", {})],
                       logs={"serving-a": "a\n", "serving-b": "b\n"})
    assert launcher(stand_in).logs({LABEL_TRAINING: "42"}) == {
        "serving": "--- pod serving-a ---\na\n\n--- pod serving-b ---\nb\n"}


def test_the_real_client_accepts_the_service_calls() -> None:
    api_client = ApiClient(Configuration(host="https://kubernetes.invalid"))
    api_client.rest_client = transport = Transport()
    api = KubernetesApi(BatchV1Api(api_client), CoreV1Api(api_client), AppsV1Api(api_client))
    cluster = KubernetesLauncher(api=api, namespace=NAMESPACE)
    cluster.launch(SERVICE)
    cluster.stop({LABEL_JOB: "inference-7"})
    deployments = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    selected = {"labelSelector": f"app.kubernetes.io/part-of=kafka-ml,{LABEL_JOB}=inference-7"}
    assert transport.requests == [
        ("POST", deployments, {}, cluster.manifest(SERVICE)),
        ("GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", selected, None),
        ("DELETE", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/done", {"propagationPolicy": "Foreground"}, None),
        ("GET", deployments, selected, None),
        ("DELETE", f"{deployments}/inference-7", {"propagationPolicy": "Foreground"}, None),
    ]
