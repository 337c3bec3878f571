"""The ``batch/v1`` Job a :class:`~kafkaml.jobs.spec.JobSpec` becomes in a cluster, or the
``apps/v1`` Deployment for a long-running service (a spec with ``replicas``).

Pure functions of the spec, so every object the Kubernetes launcher would send can be checked
offline against the API's schema. Security is not optional here: jobs run user-defined models
next to keys, so every pod runs as a fixed non-root user with a read-only root filesystem (a
writable ``/tmp`` only), no privilege escalation, no capabilities, the runtime's seccomp profile
and no service-account token (no job needs the Kubernetes API). Secrets are mounted read-only
with mode 0400; the kubelet grants the pod's ``fsGroup`` read access to them (effective mode
0440, root:fsGroup), which is how a non-root user reads a Secret file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafkaml.jobs.spec import LABEL_JOB, LABEL_PART_OF, PART_OF, JobSpec

SECRET_FILE_MODE = 0o400


@dataclass(frozen=True)
class PodSecurity:
    """The numeric user and group job containers run as: the ``USER`` of the project's images.

    Numeric, because the kubelet can check ``runAsNonRoot`` only against a number.
    """

    run_as_user: int = 10001
    run_as_group: int = 10001

    def __post_init__(self) -> None:
        if self.run_as_user < 1 or self.run_as_group < 1:
            raise ValueError("jobs run as a non-root user: run_as_user and run_as_group must be at least 1")


def job_manifest(spec: JobSpec, namespace: str, security: PodSecurity | None = None) -> dict[str, Any]:
    """The Job object, as the JSON the API server receives."""
    if spec.replicas is not None:
        raise ValueError(f"job {spec.name} is a long-running service: it becomes a Deployment")
    security = security or PodSecurity()
    labels = spec.all_labels
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.backoff_limit,
        "ttlSecondsAfterFinished": spec.ttl_after_finished_s,
        "template": {"metadata": {"labels": labels}, "spec": _pod_spec(spec, security)},
    }
    if spec.active_deadline_s is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_s
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": namespace, "labels": labels},
        "spec": job_spec,
    }


def deployment_manifest(spec: JobSpec, namespace: str, security: PodSecurity | None = None) -> dict[str, Any]:
    """The Deployment of a long-running service: ``spec.replicas`` pods of the same locked-down
    pod as a Job's, restarted whenever they exit. It selects its pods by the job's own label, and
    ``Recreate`` replaces them all at once on a change (never two versions of the worker in one
    consumer group)."""
    if spec.replicas is None:
        raise ValueError(f"job {spec.name} is not a long-running service (it has no replicas)")
    labels = spec.all_labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {LABEL_PART_OF: PART_OF, LABEL_JOB: spec.name}},
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(spec, security or PodSecurity(), "Always")},
        },
    }


def workload_manifest(spec: JobSpec, namespace: str, security: PodSecurity | None = None) -> dict[str, Any]:
    """What ``spec`` becomes in a cluster: a Deployment for a service, a Job otherwise."""
    if spec.replicas is not None:
        return deployment_manifest(spec, namespace, security)
    return job_manifest(spec, namespace, security)


def _pod_spec(spec: JobSpec, security: PodSecurity, restart_policy: str = "Never") -> dict[str, Any]:
    secrets = sorted(spec.secret_files.items())
    environment = {**spec.environment, **spec.secret_environment({name: file.path for name, file in secrets})}
    container = {
        "name": spec.role.value,
        "image": spec.image,
        "command": spec.argv("python"),
        "env": [{"name": name, "value": value} for name, value in sorted(environment.items())],
        "resources": {
            "requests": {"cpu": spec.resources.cpu_request, "memory": spec.resources.memory_request},
            "limits": {"cpu": spec.resources.cpu_limit, "memory": spec.resources.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}] + [
            {"name": f"secret-{index}", "mountPath": file.directory, "readOnly": True}
            for index, (_, file) in enumerate(secrets)
        ],
    }
    volumes = [{"name": "tmp", "emptyDir": {}}] + [
        {"name": f"secret-{index}", "secret": {
            "secretName": file.secret,
            "items": [{"key": file.key, "path": file.path.rsplit("/", 1)[1], "mode": SECRET_FILE_MODE}],
            "defaultMode": SECRET_FILE_MODE,
        }}
        for index, (_, file) in enumerate(secrets)
    ]
    return {
        "restartPolicy": restart_policy,
        "serviceAccountName": spec.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,  # no environment variables for every Service in the namespace
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": security.run_as_user,
            "runAsGroup": security.run_as_group,
            "fsGroup": security.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
