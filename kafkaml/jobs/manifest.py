"""The ``batch/v1`` Job a :class:`~kafkaml.jobs.spec.JobSpec` becomes in a cluster.

A pure function of the spec, so every object the Kubernetes launcher would send can be checked
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

from kafkaml.jobs.spec import JobSpec

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


def _pod_spec(spec: JobSpec, security: PodSecurity) -> dict[str, Any]:
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
        "restartPolicy": "Never",
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
