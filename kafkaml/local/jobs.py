"""Training jobs as local processes for ``kafkaml train`` and the tests: the stand-in for
Kubernetes Jobs when no backend launches them.

A job is ``python -m <module>`` with the caller's environment plus its own, what the Kubernetes
Job manifest would run in a container; its output goes to a log file. Like the local launcher's
jobs (:mod:`kafkaml.jobs.local`) it is a fork of the warm process (:mod:`kafkaml.jobs.warm_start`)
under a supervisor that leads its own process group, so that stopping it stops everything it
started and its exit code is known to whoever started it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kafkaml import processes
from kafkaml.jobs import local as launcher
from kafkaml.jobs import warm_start

#: The exit code of a job whose supervisor was killed outright (as SIGKILL's 128 + 9): it left none.
KILLED = 137


@dataclass
class Job:
    """A running (or finished) job process."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    #: The supervisor's pid and start time (its identity), and the directory of its files.
    pid: int = field(default=0, repr=False)
    _start_ticks: int | None = field(default=None, repr=False)
    _files: Path | None = field(default=None, repr=False)

    def start(self) -> Job:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A directory per start: a job started again on the same log gets a fresh outcome file.
        self._files = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=self.log_path.parent))
        job_file = self._files / launcher.JOB_FILE
        job_file.write_text(json.dumps({"argv": [sys.executable, "-m", self.module], "active_deadline_s": None,
                                        "backoff_limit": 0}))
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.pid = warm_start.start_supervisor(job_file=job_file, exit_file=self._files / launcher.EXIT_FILE,
                                               log_file=self.log_path, environment=environment,
                                               base_environment=launcher.base_environment())
        self._start_ticks = processes.start_ticks(self.pid)
        return self

    def exit_code(self) -> int | None:
        """None while running, else the exit code (``KILLED`` when it was killed before it could say)."""
        if self._files is None:
            return None
        alive = processes.is_running(self.pid) and processes.start_ticks(self.pid) == self._start_ticks
        # The outcome after liveness: a supervisor found gone has written it before it went, if at all.
        exit_file = self._files / launcher.EXIT_FILE
        if exit_file.exists():
            return json.loads(exit_file.read_text())["exit_code"]
        return None if alive else KILLED

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit code; raise TimeoutError (job left running) when it takes longer."""
        deadline = time.monotonic() + timeout_s
        while (code := self.exit_code()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name} still running after {timeout_s:.0f} s; log: {self.log_path}")
            time.sleep(0.1)
        return code

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the job's whole process group (SIGTERM, then SIGKILL after ``grace_s``)."""
        if self.pid and self.exit_code() is None:
            processes.stop_group(self.pid, grace_s)

    def kill(self) -> None:
        """Kill the job abruptly, as a crashed node or an OOM kill would."""
        self.stop(grace_s=0)

    def log_tail(self, lines: int = 30) -> str:
        return processes.tail(self.log_path, lines)
