"""Jobs as local processes: the launcher of local mode, with the same contract as a cluster.

Each job gets a directory under ``<run dir>/jobs/<name>/``: ``job.json`` (its labels, program
and settings, written before it starts; secrets appear there only as ``<NAME>_FILE`` paths), ``process.json`` (pid and start time), ``exit.json``
(written by :mod:`kafkaml.jobs.supervisor` when it ends) and ``output.log``. These files are the
index: any process that opens a launcher on the same run directory (a restarted backend, the
CLI) sees the same jobs, their states and exit codes, and can stop them.

The program gets what a container would: the spec's settings and ``<NAME>_FILE`` paths for its
secrets, plus the few variables a process needs to run here (``PATH``, ``HOME``, locale,
``PYTHONPATH``). Nothing else of the caller's environment leaks in, so a backend's own keys and
passwords never reach a job. A secret ``(secret, key)`` is the file ``<secrets dir>/<secret>/<key>``,
laid out as Kubernetes mounts a Secret; the job is told its path, never its content.
Resource requests and limits are not enforced locally. A long-running service runs one process
group per replica (``JobSpec.instances``); a replica that fails is retried as a job is, up to the
backoff limit, and then stays failed (a cluster's Deployment restarts it for ever).

A job's supervisor and program are forks of a warm process that imported TensorFlow and the other
heavy libraries once (:mod:`kafkaml.jobs.warm_start`): a job starts in a fraction of a second
instead of paying seconds of imports, and sees what a fresh process would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafkaml import processes
from kafkaml.jobs import rules, warm_start
from kafkaml.jobs.launcher import (
    JobError,
    JobExists,
    JobHandle,
    JobState,
    JobStatus,
    Launcher,
    matches,
    scoped,
)
from kafkaml.jobs.spec import LABEL_JOB, JobSpec, SecretFile

JOB_FILE = "job.json"
PROCESS_FILE = "process.json"
EXIT_FILE = "exit.json"
LOG_FILE = "output.log"
#: The exit code of a job whose supervisor was killed outright (as SIGKILL's 128 + 9): it left none.
KILLED = 137
#: The only variables of the caller's environment a job inherits.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


class MissingSecret(JobError):
    """A secret file a job needs does not exist in the secrets directory."""


class SecretDirectory:
    """Secrets on one host: a directory per secret with one file per key, readable by this user
    only (laid out as Kubernetes mounts a Secret)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, name: str, files: Mapping[str, bytes]) -> None:
        rules.check_dns_subdomain("secret name", name)
        directory = self.directory / name
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        for key, data in files.items():
            SecretFile(name, key, f"/secrets/{key}")  # checks the key as a cluster would
            temporary = directory / f".{key}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, directory / key)

    def read(self, name: str, key: str) -> bytes | None:
        rules.check_dns_subdomain("secret name", name)
        path = self.directory / name / key
        return path.read_bytes() if path.is_file() else None

    def delete(self, name: str) -> None:
        rules.check_dns_subdomain("secret name", name)
        shutil.rmtree(self.directory / name, ignore_errors=True)

    def path(self, secret: SecretFile) -> Path:
        return self.directory / secret.secret / secret.key


class HostSecrets:
    """A launcher's Secrets as a :class:`SecretDirectory` of this host (``self.secrets``)."""

    secrets: SecretDirectory

    def put_secret(self, name: str, files: Mapping[str, bytes], labels: Mapping[str, str]) -> None:
        self.secrets.put(name, files)

    def read_secret(self, name: str, key: str) -> bytes | None:
        return self.secrets.read(name, key)

    def delete_secret(self, name: str) -> None:
        self.secrets.delete(name)


class LocalLauncher(HostSecrets, Launcher):
    """Runs jobs as process groups on this machine; state lives in ``run_dir/jobs``."""

    def __init__(self, run_dir: Path, secrets_dir: Path | None = None, stop_grace_s: float = 5.0) -> None:
        self.jobs_dir = Path(run_dir) / "jobs"
        self.secrets = SecretDirectory(Path(secrets_dir) if secrets_dir is not None else Path(run_dir) / "secrets")
        self.stop_grace_s = stop_grace_s

    def launch(self, spec: JobSpec) -> JobHandle:
        """Start the job, or each replica of a service as a job of its own (``spec.instances()``);
        when one cannot start, those started already are stopped: all or none run."""
        secret_paths = {name: str(self._secret_path(secret)) for name, secret in spec.secret_files.items()}
        settings = {**spec.environment, **spec.secret_environment(secret_paths)}
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        started: list[str] = []
        try:
            for name, labels in spec.instances().items():
                self._start(spec, name, labels, settings)
                started.append(name)
        except JobError:
            for name in started:
                self.end(name)
                shutil.rmtree(self.jobs_dir / name, ignore_errors=True)
            raise
        return JobHandle(spec.name, spec.all_labels)

    def _start(self, spec: JobSpec, name: str, labels: Mapping[str, str], settings: Mapping[str, str]) -> None:
        """Start one process group; ``settings`` are the job's own variables (its spec's and the
        ``<NAME>_FILE`` paths), which its description keeps, as a cluster's Job object does."""
        job_dir = self.jobs_dir / name
        try:
            job_dir.mkdir()
        except FileExistsError:
            raise JobExists(f"a local job named {name} exists already in {self.jobs_dir}") from None
        _write_json(job_dir / JOB_FILE, {
            "name": name, "labels": labels, "argv": spec.argv(sys.executable), "environment": settings,
            "active_deadline_s": spec.active_deadline_s, "backoff_limit": spec.backoff_limit,
        })
        try:
            pid = warm_start.start_supervisor(job_file=job_dir / JOB_FILE, exit_file=job_dir / EXIT_FILE,
                                              log_file=job_dir / LOG_FILE,
                                              environment={**base_environment(), **settings},
                                              base_environment=base_environment())
        except (OSError, JobError) as exc:
            shutil.rmtree(job_dir, ignore_errors=True)  # no job left pending for ever
            raise JobError(f"job {name} could not start: {exc}") from None
        _write_json(job_dir / PROCESS_FILE, {"pid": pid, "start_ticks": processes.start_ticks(pid),
                                             "started_at": datetime.now(UTC).isoformat()})

    def status(self, selector: Mapping[str, str]) -> list[JobStatus]:
        return [self._status(job_dir, record) for job_dir, record in self._records(scoped(selector))]

    def logs(self, selector: Mapping[str, str], tail_lines: int = 100) -> dict[str, str]:
        return {record["name"]: processes.tail(job_dir / LOG_FILE, tail_lines)
                for job_dir, record in self._records(scoped(selector))}

    def stop(self, selector: Mapping[str, str]) -> list[str]:
        stopped = []
        for job_dir, record in self._records(scoped(selector, for_stop=True)):
            self.end(record["name"])
            shutil.rmtree(job_dir, ignore_errors=True)
            stopped.append(record["name"])
        return stopped

    def end(self, name: str, grace_s: float | None = None) -> None:
        """End the job ``name``'s processes (SIGTERM, SIGKILL after ``grace_s``, by default the
        launcher's) and keep its files: its log and outcome stay readable, as a Kubernetes Job's
        do until it is deleted. :meth:`stop` ends and deletes."""
        process = _read_json(self.jobs_dir / name / PROCESS_FILE)
        if process and _is_supervisor(process):
            processes.stop_group(process["pid"], self.stop_grace_s if grace_s is None else grace_s)

    def _secret_path(self, secret: SecretFile) -> Path:
        path = self.secrets.path(secret)
        if not path.is_file():
            raise MissingSecret(f"secret {secret.secret!r} key {secret.key!r}: no file {path}")
        return path

    def _records(self, selector: Mapping[str, str]) -> Iterator[tuple[Path, dict[str, Any]]]:
        if not self.jobs_dir.is_dir():
            return
        for job_dir in sorted(self.jobs_dir.iterdir()):
            record = _read_json(job_dir / JOB_FILE)  # None while a job is being created or deleted
            if record is not None and matches(record["labels"], selector):
                yield job_dir, record

    def _status(self, job_dir: Path, record: dict[str, Any]) -> JobStatus:
        process = _read_json(job_dir / PROCESS_FILE)
        # Liveness before the outcome: the supervisor writes exit.json before it exits, so a
        # process found gone here has left its outcome for the read below, if it left one.
        alive = process is not None and _is_supervisor(process)
        started = datetime.fromisoformat(process["started_at"]) if process else None
        outcome = _read_json(job_dir / EXIT_FILE)
        common = {"name": record["name"], "labels": record["labels"], "started_at": started}
        if outcome is not None:
            state = JobState.SUCCEEDED if outcome["exit_code"] == 0 else JobState.FAILED
            finished_at = datetime.fromisoformat(outcome["finished_at"])
            return JobStatus(**common, state=state, finished_at=finished_at, exit_code=outcome["exit_code"],
                             reason=outcome["reason"])
        if process is None:
            return JobStatus(**common, state=JobState.PENDING)
        if alive:
            return JobStatus(**common, state=JobState.RUNNING)
        return JobStatus(**common, state=JobState.FAILED, reason="Lost")  # killed outright, or a reboot


class LocalJob:
    """One job of a :class:`LocalLauncher`, followed through its handle: for a caller that starts
    its jobs and waits for them itself (``kafkaml train``, the tests), where a service polls the
    launcher's statuses by label instead."""

    def __init__(self, launcher: LocalLauncher, spec: JobSpec) -> None:
        self.launcher, self.spec = launcher, spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def environment(self) -> Mapping[str, str]:
        return self.spec.environment

    @property
    def log_path(self) -> Path:
        return self.launcher.jobs_dir / self.name / LOG_FILE

    def start(self) -> LocalJob:
        self.launcher.launch(self.spec)
        return self

    def again(self, name: str, environment: Mapping[str, str]) -> LocalJob:
        """The same job under a new name with another environment, not started (a restart: the
        first run's log stays under its own name)."""
        return LocalJob(self.launcher, dataclasses.replace(self.spec, name=name, environment=environment))

    def exit_code(self) -> int | None:
        """None while it runs, else its exit code (:data:`KILLED` when it was killed before it could say)."""
        statuses = self.launcher.status({LABEL_JOB: self.name})
        if not statuses:
            raise JobError(f"job {self.name} is gone from {self.launcher.jobs_dir}")
        status = statuses[0]
        if status.state in (JobState.PENDING, JobState.RUNNING):
            return None
        return KILLED if status.exit_code is None else status.exit_code

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit code; raise TimeoutError (the job left running) when it takes longer."""
        deadline = time.monotonic() + timeout_s
        while (code := self.exit_code()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name} still running after {timeout_s:.0f} s; log: {self.log_path}")
            time.sleep(0.1)
        return code

    def stop(self, grace_s: float | None = None) -> None:
        """End the job's whole process group; its log stays."""
        self.launcher.end(self.name, grace_s)

    def kill(self) -> None:
        """Kill the job abruptly, as a crashed node or an OOM kill would."""
        self.stop(grace_s=0)

    def log_tail(self, lines: int = 30) -> str:
        return processes.tail(self.log_path, lines)

    def cpu_seconds(self) -> float | None:
        """Processor seconds the job's program used, once it ended (None before, or when it was
        killed before its supervisor could say)."""
        outcome = _read_json(self.launcher.jobs_dir / self.name / EXIT_FILE)
        return None if outcome is None else outcome.get("cpu_s")


def _is_supervisor(process: dict[str, Any]) -> bool:
    """True when the job's recorded process is alive and is its supervisor, not a recycled pid:
    the same pid started at the same instant (a fork of the warm process shows that process's
    command line, so the start time is the identity)."""
    pid = process["pid"]
    return processes.is_running(pid) and processes.start_ticks(pid) == process.get("start_ticks")


def base_environment() -> dict[str, str]:
    """What every local job inherits of the caller's environment (and the warm process runs with)."""
    environment = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    environment["PYTHONUNBUFFERED"] = "1"  # logs show progress as it happens
    return environment


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a reader in another process sees the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
