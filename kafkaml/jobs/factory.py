"""The launcher a service runs its jobs with, chosen by its settings (``JOB_LAUNCHER``)."""

from __future__ import annotations

from pathlib import Path

from kafkaml.jobs.launcher import Launcher
from kafkaml.jobs.local import LocalLauncher


def launcher_from_settings(kind: str, jobs_dir: Path, secrets_dir: Path | None = None, *,
                           services: bool = False) -> Launcher:
    """Kubernetes Jobs in the service's namespace (``kind="kubernetes"``), or local processes
    under ``jobs_dir`` whose Secrets are the directories of ``secrets_dir`` (by default
    ``<jobs_dir>/secrets``). ``services``: the caller runs long-running services too (the
    platform's inference), as Kubernetes Deployments, which its Role must allow."""
    if kind == "docker":
        from kafkaml.jobs.docker_launcher import DockerLauncher
        from kafkaml.jobs.settings import JOB_NETWORK

        return DockerLauncher.from_environment(JOB_NETWORK.read(), secrets_dir or jobs_dir / "secrets")
    if kind == "kubernetes":
        from kafkaml.jobs.kubernetes_launcher import KubernetesLauncher  # about a second to import

        return KubernetesLauncher(services=services)
    return LocalLauncher(jobs_dir, secrets_dir=secrets_dir)
