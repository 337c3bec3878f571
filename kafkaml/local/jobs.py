"""Training jobs as local subprocesses: the stand-in for Kubernetes Jobs in local mode.

A job is ``python -m <module>`` with an environment, exactly what the Kubernetes Job manifest
would run in a container; its output goes to a log file and it runs in its own process group so
that stopping it stops everything it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kafkaml import processes


@dataclass
class Job:
    """A running (or finished) job process."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Job:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env={**_base_environment(), **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"job {self.name} was never started")
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while running, else the exit code."""
        return None if self.process is None else self.process.poll()

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
        if self.process is not None and self.process.poll() is None:
            processes.stop_group(self.process.pid, grace_s)
            self.process.wait(timeout=5)

    def kill(self) -> None:
        """Kill the job abruptly, as a crashed node or an OOM kill would."""
        self.stop(grace_s=0)

    def log_tail(self, lines: int = 30) -> str:
        return processes.tail(self.log_path, lines)


def _base_environment() -> dict[str, str]:
    """The caller's environment with unbuffered output, so logs show progress as it happens."""
    environment = dict(os.environ)
    environment["PYTHONUNBUFFERED"] = "1"
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return environment
