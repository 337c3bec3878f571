"""Jobs as Kubernetes ``batch/v1`` Jobs (long-running services as ``apps/v1`` Deployments) in one namespace: ``JOB_NAMESPACE`` (the platform's jobs
and their Secrets, apart from the platform's own Secrets), else the caller's own.

The backends run in a pod whose service account may manage Jobs and their Secrets and read Pods
and their logs in that namespace only; so the launcher works in that namespace (else the one the
pod runs in: the downward API's ``POD_NAMESPACE``, or the service account's namespace file) and
never needs cluster-wide rights. Status, logs and stop go through label selectors built from checked labels. The API
objects are passed in (:class:`KubernetesApi`), so tests use a stand-in and no API server.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kafkaml.jobs.launcher import JobError, JobExists, JobHandle, JobState, JobStatus, Launcher, scoped
from kafkaml.jobs.manifest import PodSecurity, workload_manifest
from kafkaml.jobs.settings import JOB_NAMESPACE, POD_NAMESPACE
from kafkaml.jobs.spec import LABEL_JOB, LABEL_PART_OF, PART_OF, JobSpec

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class KubernetesApi:
    """The API groups the launcher calls: ``BatchV1Api`` for Jobs, ``CoreV1Api`` for Pods and
    Secrets, and ``AppsV1Api`` for the Deployments of long-running services. ``apps`` is None for
    a caller that runs none (a federated client's backend): its Role grants nothing on
    Deployments, so the launcher never asks about them."""

    batch: Any
    core: Any
    apps: Any = None

    @classmethod
    def connect(cls, services: bool = False) -> KubernetesApi:
        """In a pod, its service account; elsewhere the user's kube config. ``services``: the
        caller runs long-running services too."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(client.BatchV1Api(), client.CoreV1Api(), client.AppsV1Api() if services else None)


def namespace_from_environment(environ: Mapping[str, str] | None = None,
                               namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """``JOB_NAMESPACE``, else ``POD_NAMESPACE`` (downward API), else the namespace of the pod's
    service account."""
    namespace = JOB_NAMESPACE.read(environ) or POD_NAMESPACE.read(environ)
    if namespace:
        return namespace
    try:
        return namespace_file.read_text().strip()
    except OSError:
        raise JobError(f"no namespace for jobs: set POD_NAMESPACE from the downward API "
                       f"(fieldRef metadata.namespace) or run in a pod with {namespace_file}") from None


def selector_string(selector: Mapping[str, str]) -> str:
    """``key=value,...`` in a stable order (labels are checked, so no value can add a term)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


class KubernetesLauncher(Launcher):
    """Launches, watches and deletes Jobs in one namespace through the Kubernetes API."""

    def __init__(self, api: KubernetesApi | None = None, namespace: str | None = None,
                 security: PodSecurity | None = None, services: bool = False) -> None:
        self.namespace = namespace or namespace_from_environment()
        self.api = api or KubernetesApi.connect(services)
        self.security = security or PodSecurity()

    def manifest(self, spec: JobSpec) -> dict[str, Any]:
        """The Job (a service's Deployment) :meth:`launch` sends for ``spec``."""
        return workload_manifest(spec, self.namespace, self.security)

    def launch(self, spec: JobSpec) -> JobHandle:
        with _api_errors(f"creating job {spec.name}"):
            if spec.replicas is None:
                self.api.batch.create_namespaced_job(namespace=self.namespace, body=self.manifest(spec))
            elif self.api.apps is None:
                raise JobError(f"job {spec.name}: this launcher runs no long-running services (no apps/v1 API)")
            else:
                self.api.apps.create_namespaced_deployment(namespace=self.namespace, body=self.manifest(spec))
        return JobHandle(spec.name, spec.all_labels)

    def status(self, selector: Mapping[str, str]) -> list[JobStatus]:
        wanted = selector_string(scoped(selector))
        with _api_errors("listing jobs"):
            jobs, services, pods = self._jobs(wanted), self._deployments(wanted), self._pods_by_job(wanted)
        statuses = [_job_status(job, pods.get(job.metadata.name, [])) for job in jobs]
        statuses += [_service_status(service, pods.get(service.metadata.name, [])) for service in services]
        return sorted(statuses, key=lambda status: status.name)

    def logs(self, selector: Mapping[str, str], tail_lines: int = 100) -> dict[str, str]:
        """Each job's output; a job that was retried, or a service's replicas, show each pod's
        tail, oldest first."""
        wanted = selector_string(scoped(selector))
        with _api_errors("reading logs"):
            names = [item.metadata.name for item in (*self._jobs(wanted), *self._deployments(wanted))]
            pods = self._pods_by_job(wanted)
            return {name: self._job_logs(pods.get(name, []), tail_lines) for name in sorted(names)}

    def stop(self, selector: Mapping[str, str]) -> list[str]:
        """Delete the selected Jobs and Deployments; Foreground propagation deletes their pods
        before they go."""
        wanted = selector_string(scoped(selector, for_stop=True))
        stopped = []
        with _api_errors("stopping jobs"):
            for job in self._jobs(wanted):
                _delete(self.api.batch.delete_namespaced_job, job.metadata.name, self.namespace)
                stopped.append(job.metadata.name)
            for service in self._deployments(wanted):
                _delete(self.api.apps.delete_namespaced_deployment, service.metadata.name, self.namespace)
                stopped.append(service.metadata.name)
        return sorted(stopped)

    def put_secret(self, name: str, files: Mapping[str, bytes], labels: Mapping[str, str]) -> None:
        """An Opaque Secret in the launcher's namespace (replaced when it exists)."""
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": self.namespace,
                             "labels": {**labels, LABEL_PART_OF: PART_OF}},
                "data": {key: base64.b64encode(data).decode() for key, data in files.items()}}
        with _api_errors(f"creating secret {name}"):
            try:
                self.api.core.create_namespaced_secret(namespace=self.namespace, body=body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self.api.core.replace_namespaced_secret(name=name, namespace=self.namespace, body=body)

    def read_secret(self, name: str, key: str) -> bytes | None:
        with _api_errors(f"reading secret {name}"):
            try:
                secret = self.api.core.read_namespaced_secret(name=name, namespace=self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return None
        value = (secret.data or {}).get(key)
        return None if value is None else base64.b64decode(value)

    def delete_secret(self, name: str) -> None:
        with _api_errors(f"deleting secret {name}"):
            try:
                self.api.core.delete_namespaced_secret(name=name, namespace=self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def _jobs(self, label_selector: str) -> list[Any]:
        return self.api.batch.list_namespaced_job(namespace=self.namespace, label_selector=label_selector).items

    def _deployments(self, label_selector: str) -> list[Any]:
        if self.api.apps is None:
            return []
        return self.api.apps.list_namespaced_deployment(namespace=self.namespace, label_selector=label_selector).items

    def _pods_by_job(self, label_selector: str) -> dict[str, list[Any]]:
        """The selected pods grouped by job (by the job's own label), oldest first."""
        pods = self.api.core.list_namespaced_pod(namespace=self.namespace, label_selector=label_selector).items
        by_job: dict[str, list[Any]] = {}
        for pod in sorted(pods, key=lambda pod: pod.metadata.creation_timestamp or _EPOCH):
            by_job.setdefault((pod.metadata.labels or {}).get(LABEL_JOB, ""), []).append(pod)
        return by_job

    def _job_logs(self, pods: list[Any], tail_lines: int) -> str:
        parts = []
        for pod in pods:
            try:
                text = self.api.core.read_namespaced_pod_log(name=pod.metadata.name, namespace=self.namespace,
                                                             tail_lines=tail_lines)
            except ApiException as exc:
                if exc.status != 400:  # 400: the container has not started yet, so no log
                    raise
                text = ""
            parts.append(text if len(pods) == 1 else f"--- pod {pod.metadata.name} ---\n{text}")
        return "\n".join(parts)


def _job_status(job: Any, pods: list[Any]) -> JobStatus:
    """A Job's state from its conditions (final ones) or its pods (pending or running)."""
    status = job.status or client.V1JobStatus()
    conditions = {condition.type: condition for condition in status.conditions or []
                  if condition.status == "True"}
    common = {"name": job.metadata.name, "labels": dict(job.metadata.labels or {}),
              "started_at": status.start_time, "exit_code": _exit_code(pods[-1]) if pods else None}
    if "Complete" in conditions:
        return JobStatus(**common, state=JobState.SUCCEEDED,
                         finished_at=status.completion_time or conditions["Complete"].last_transition_time)
    if "Failed" in conditions:
        failed = conditions["Failed"]
        return JobStatus(**common, state=JobState.FAILED, finished_at=failed.last_transition_time,
                         reason=failed.reason or "")
    running = any(pod.status is not None and pod.status.phase == "Running" for pod in pods)
    return JobStatus(**common, state=JobState.RUNNING if running else JobState.PENDING)


#: Why a service's pod cannot run: waiting reasons the kubelet gives a container that will not
#: start or keeps crashing (it keeps retrying, but nothing will change without someone acting).
STUCK = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                   "InvalidImageName"})


def _service_status(deployment: Any, pods: list[Any]) -> JobStatus:
    """A Deployment's state: failed when its rollout gave up (``Progressing`` false) or a pod is
    stuck (:data:`STUCK`), running while a replica is ready, else pending. A service never
    succeeds: it runs until it is deleted."""
    status = deployment.status or client.V1DeploymentStatus()
    common = {"name": deployment.metadata.name, "labels": dict(deployment.metadata.labels or {}),
              "started_at": deployment.metadata.creation_timestamp,
              "exit_code": _exit_code(pods[-1], last=True) if pods else None}
    stalled = [condition for condition in status.conditions or []
               if condition.type == "Progressing" and condition.status == "False"]
    if stalled:
        return JobStatus(**common, state=JobState.FAILED, finished_at=stalled[0].last_transition_time,
                         reason=stalled[0].reason or "ProgressDeadlineExceeded")
    stuck = sorted({reason for pod in pods for reason in _waiting_reasons(pod)} & STUCK)
    if stuck:
        return JobStatus(**common, state=JobState.FAILED, reason=stuck[0])
    return JobStatus(**common, state=JobState.RUNNING if status.ready_replicas else JobState.PENDING)


def _waiting_reasons(pod: Any) -> list[str]:
    return [container.state.waiting.reason or "" for container in (pod.status.container_statuses or [])
            if container.state is not None and container.state.waiting is not None] if pod.status else []


def _exit_code(pod: Any, last: bool = False) -> int | None:
    """The exit code of the pod's container, once it has terminated (``last``: the code its
    previous run ended with, for a container that is restarted)."""
    for container in (pod.status.container_statuses or []) if pod.status else []:
        state = container.last_state if last else container.state
        if state is not None and state.terminated is not None:
            return state.terminated.exit_code
    return None


def _delete(delete: Any, name: str, namespace: str) -> None:
    """Delete one object with its pods first; one gone already is what a stop wanted."""
    try:
        delete(name=name, namespace=namespace, propagation_policy="Foreground")
    except ApiException as exc:
        if exc.status != 404:
            raise


@contextlib.contextmanager
def _api_errors(action: str) -> Iterator[None]:
    """API failures as :class:`JobError` (409 as :class:`JobExists`), with status and reason only;
    an API server that cannot be reached (refused, reset, timed out: urllib3 gives up after its
    retries) is a :class:`JobError` too, so callers answer it as a dependency that is down."""
    try:
        yield
    except ApiException as exc:
        if exc.status == 409:
            raise JobExists(f"{action}: a job of that name exists already") from None
        raise JobError(f"{action}: the Kubernetes API answered {exc.status} {exc.reason}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise JobError(f"{action}: the Kubernetes API cannot be reached ({type(exc).__name__})") from None
