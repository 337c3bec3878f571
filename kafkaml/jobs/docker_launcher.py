"""Jobs as containers of one host's Docker Engine (or podman's Docker-compatible service): the
launcher for a platform run on a single host without Kubernetes.

A job is one container named after the job and labelled with its labels (a long-running service
one per replica: ``JobSpec.instances``), so status, logs and
stop select by label as in a cluster, and any process that opens a launcher on the same engine
sees the same jobs. The container gets what the Kubernetes launcher gives a pod
(:mod:`kafkaml.jobs.manifest`): the images' non-root user, a read-only root filesystem with a
scratch ``/tmp``, every capability dropped and no privilege escalation, the spec's memory and CPU
limits, its settings and ``<NAME>_FILE`` paths for its secret files, and the platform's network
only. A retry after a failure is the engine's restart policy (``backoff_limit`` times, in place);
the deadline is enforced when status is read, as nothing in the engine does it.

A Secret is a directory of ``secrets_dir`` with one file per key, as with the local launcher. A
bind-mounted file keeps its owner and mode on the host, so each job gets its own copy of the files
it mounts, owned by the job's user and readable by it alone (``SECRET_FILE_MODE``), removed when
the job is stopped; writing them as that user needs the right to change a file's owner, which an
account allowed to use the engine's socket has (that socket is root on the host).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafkaml.jobs import rules
from kafkaml.jobs.launcher import JobError, JobExists, JobHandle, JobState, JobStatus, Launcher, scoped
from kafkaml.jobs.local import HostSecrets, SecretDirectory
from kafkaml.jobs.manifest import SECRET_FILE_MODE, PodSecurity
from kafkaml.jobs.spec import LABEL_JOB, JobSpec

#: podman's service sets no default limits on the hosts we run on (docker/containers.conf), so
#: every container is given the same ones the image tests use.
ULIMITS = {"nproc": 4096, "nofile": 4096}
STAGED = ".jobs"  # per-job copies of secret files, under the secrets directory
_UNSET_TIME = "0001-01-01"
_TIMESTAMP = re.compile(r"(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)?")
#: The job's active deadline in seconds, kept with the container (the engine has none of its own).
DEADLINE_LABEL = "kafka-ml/active-deadline-seconds"


class DockerLauncher(HostSecrets, Launcher):
    """Runs jobs as containers of ``engine`` (a ``docker.DockerClient``) on ``network``."""

    def __init__(self, engine: Any, network: str, secrets_dir: Path, security: PodSecurity | None = None,
                 stop_grace_s: float = 5.0) -> None:
        self.engine = engine
        self.network = network
        self.secrets = SecretDirectory(Path(secrets_dir))  # the local launcher's layout
        self.security = security or PodSecurity()
        self.stop_grace_s = stop_grace_s

    @classmethod
    def from_environment(cls, network: str, secrets_dir: Path) -> DockerLauncher:
        """The engine ``DOCKER_HOST`` names (default: the local Docker socket)."""
        import docker  # imported where used, like the Kubernetes client

        return cls(docker.from_env(), network, secrets_dir)

    def launch(self, spec: JobSpec) -> JobHandle:
        """One container for a job, one per replica of a service (``spec.instances()``): all or none run."""
        if self._containers(scoped({LABEL_JOB: spec.name})):
            raise JobExists(f"a container for job {spec.name} exists already")
        started: list[str] = []
        try:
            for name, labels in spec.instances().items():
                self._run(spec, name, labels)
                started.append(name)
        except JobError:
            for container in self._containers(scoped({LABEL_JOB: spec.name})):
                container.remove(force=True)
                self._remove_staged(container.name)
            raise
        return JobHandle(spec.name, spec.all_labels)

    def _run(self, spec: JobSpec, name: str, labels: Mapping[str, str]) -> None:
        from docker.errors import APIError
        from docker.types import Ulimit

        mounts, paths = self._stage_secrets(spec, name)
        user = f"{self.security.run_as_user}:{self.security.run_as_group}"
        labels = dict(labels)
        if spec.active_deadline_s is not None:
            labels[DEADLINE_LABEL] = str(spec.active_deadline_s)
        try:
            self.engine.containers.run(
                spec.image, spec.argv("python"), name=name, detach=True, labels=labels,
                environment={**spec.environment, **spec.secret_environment(paths)}, user=user,
                read_only=True, tmpfs={"/tmp": "rw,nosuid,nodev,size=1g"}, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], network=self.network, volumes=mounts,
                mem_limit=int(rules.quantity("memory limit", spec.resources.memory_limit)),
                nano_cpus=int(rules.quantity("cpu limit", spec.resources.cpu_limit) * 1e9),
                ulimits=[Ulimit(name=limit, soft=value, hard=value) for limit, value in ULIMITS.items()],
                restart_policy={"Name": "on-failure", "MaximumRetryCount": spec.backoff_limit}
                if spec.backoff_limit else {"Name": "no"},
            )
        except APIError as exc:
            self._remove_staged(name)
            raise JobError(f"job {name} could not start: {exc.explanation or exc}") from None

    def status(self, selector: Mapping[str, str]) -> list[JobStatus]:
        return sorted((self._status(container) for container in self._containers(scoped(selector))),
                      key=lambda status: status.name)

    def logs(self, selector: Mapping[str, str], tail_lines: int = 100) -> dict[str, str]:
        """The last lines of each selected job's output. The whole log is read and cut here: podman's
        Docker-compatible service (4.3) blanks the first line it returns for a ``tail``."""
        return {container.name: _last_lines(container.logs().decode("utf-8", "replace"), tail_lines)
                for container in self._containers(scoped(selector))}

    def stop(self, selector: Mapping[str, str]) -> list[str]:
        stopped = []
        for container in self._containers(scoped(selector, for_stop=True)):
            if container.status == "running":
                container.stop(timeout=int(self.stop_grace_s))
            container.remove(force=True)
            self._remove_staged(container.name)
            stopped.append(container.name)
        return sorted(stopped)

    def _containers(self, selector: Mapping[str, str]) -> list[Any]:
        """The selected containers, finished ones included."""
        labels = [f"{key}={value}" for key, value in selector.items()]
        return self.engine.containers.list(all=True, filters={"label": labels})

    def _stage_secrets(self, spec: JobSpec, container: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        """Each secret file of the job's ``container`` as a copy of its own, and the bind mounts
        and paths for them."""
        mounts: dict[str, dict[str, str]] = {}
        paths: dict[str, str] = {}
        for index, (name, secret) in enumerate(sorted(spec.secret_files.items())):
            source = self.secrets.path(secret)
            if not source.is_file():
                self._remove_staged(container)
                raise JobError(f"job {container}: secret {secret.secret!r} key {secret.key!r}: no file {source}")
            directory = self.secrets.directory / STAGED / container / str(index)
            directory.mkdir(parents=True, exist_ok=True)
            copy = directory / secret.key
            shutil.copyfile(source, copy)
            for path in (copy, directory):
                os.chown(path, self.security.run_as_user, self.security.run_as_group)
            os.chmod(copy, SECRET_FILE_MODE)
            os.chmod(directory, 0o500)
            mounts[str(directory)] = {"bind": secret.directory, "mode": "ro"}
            paths[name] = secret.path
        return mounts, paths

    def _remove_staged(self, job: str) -> None:
        staged = self.secrets.directory / STAGED / job
        for directory in staged.glob("*"):
            # Read-only (0500) while mounted: a launcher running as the jobs' own user (the compose
            # deployment's backend) owns it but could not delete what it holds.
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o700)
        shutil.rmtree(staged, ignore_errors=True)

    def _status(self, container: Any) -> JobStatus:
        state = container.attrs["State"]
        labels = container.labels
        common = {"name": container.name, "labels": labels, "started_at": _time(state.get("StartedAt"))}
        deadline = _deadline(labels)
        if state.get("Status") in ("running", "restarting"):
            started = common["started_at"]
            if deadline is not None and started and (datetime.now(UTC) - started).total_seconds() > deadline:
                container.kill()
                return JobStatus(**common, state=JobState.FAILED, reason="DeadlineExceeded")
            return JobStatus(**common, state=JobState.RUNNING)
        if state.get("Status") in ("created", "configured"):
            return JobStatus(**common, state=JobState.PENDING)
        code = int(state.get("ExitCode", -1))
        finished = _time(state.get("FinishedAt"))
        if code == 0:
            return JobStatus(**common, state=JobState.SUCCEEDED, finished_at=finished, exit_code=0)
        return JobStatus(**common, state=JobState.FAILED, finished_at=finished, exit_code=code,
                         reason=_failure_reason(state, deadline, common["started_at"], finished,
                                                int(container.attrs.get("RestartCount", 0))))


def _deadline(labels: Mapping[str, str]) -> float | None:
    value = labels.get(DEADLINE_LABEL)
    return float(value) if value else None



def _failure_reason(state: Mapping[str, Any], deadline: float | None, started: datetime | None,
                    finished: datetime | None, restarts: int) -> str:
    if state.get("OOMKilled"):
        return "OOMKilled"
    if deadline is not None and started and finished and (finished - started).total_seconds() >= deadline:
        return "DeadlineExceeded"
    return "BackoffLimitExceeded" if restarts else ""


def _last_lines(text: str, count: int) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[-count:]) if count > 0 else ""


def _time(value: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds), or None for the zero time the engine reports
    for never."""
    match = _TIMESTAMP.fullmatch(value or "")
    if not match or value.startswith(_UNSET_TIME):
        return None
    micro = (match["fraction"] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] in (None, "Z") else match["zone"]
    return datetime.fromisoformat(f"{match['seconds']}.{micro}{zone}").astimezone(UTC)
