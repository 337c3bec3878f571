"""``python -m kafkaml.jobs.supervisor JOB_FILE EXIT_FILE``: runs one local job, records how it ended.

Only a process's parent learns its exit code. The launcher that started a local job may be gone
when someone asks (a backend restarted mid-training), so this small parent runs the program and
writes its outcome to ``EXIT_FILE`` (beside the job's other files), where any process can read it. It
also does for a local job what Kubernetes does for a Job: it enforces the active deadline and
retries a failed program up to the backoff limit.

It leads the job's process group. Stopping the job signals the whole group: the program ends,
while the supervisor only notes the request, records the program's exit code and leaves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

#: Seconds a program past its deadline gets between SIGTERM and SIGKILL.
DEADLINE_GRACE_S = 5.0
#: The exit code of a program that could not be started (a shell's "command not found").
COMMAND_NOT_STARTED = 127


def exit_code(returncode: int) -> int:
    """A shell's (and Kubernetes') exit code: 128 + n for a program killed by signal n."""
    return 128 - returncode if returncode < 0 else returncode


def run_once(argv: list[str], deadline: float | None) -> tuple[int, bool]:
    """Run the program once; return its exit code and whether the deadline ended it."""
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"[supervisor] cannot start {argv[0]}: {exc.strerror}", flush=True)
        return COMMAND_NOT_STARTED, False
    try:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        return exit_code(child.wait(timeout=timeout)), False
    except subprocess.TimeoutExpired:
        print(f"[supervisor] active deadline exceeded: stopping pid {child.pid}", flush=True)
        child.terminate()
        try:
            child.wait(timeout=DEADLINE_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
        return exit_code(child.wait()), True


def supervise(job_file: Path, exit_file: Path) -> int:
    """Run the program ``job_file`` describes (argv, deadline, retries); write its outcome to ``exit_file``."""
    job = json.loads(job_file.read_text())
    stop_requested: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A handler, not SIG_IGN: an ignored signal would stay ignored in the program it starts.
        signal.signal(signum, lambda received, _frame: stop_requested.append(received))
    deadline_s = job["active_deadline_s"]
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    attempts = job["backoff_limit"] + 1
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            print(f"[supervisor] attempt {attempt} of {attempts}", flush=True)
        code, deadline_exceeded = run_once(job["argv"], deadline)
        if code == 0 or deadline_exceeded or stop_requested:
            break
    outcome = {"exit_code": code, "reason": _reason(code, deadline_exceeded, bool(stop_requested)), "attempts": attempt,
               "finished_at": datetime.now(UTC).isoformat()}
    temporary = exit_file.with_name(f".{exit_file.name}.tmp")
    temporary.write_text(json.dumps(outcome))
    os.replace(temporary, exit_file)  # whole or absent for a reader in another process
    return code


def _reason(code: int, deadline_exceeded: bool, stop_requested: bool) -> str:
    """Why the job failed, in the words of Kubernetes' Job conditions where there are some."""
    if code == 0:
        return ""
    if deadline_exceeded:
        return "DeadlineExceeded"
    return "Stopped" if stop_requested else "BackoffLimitExceeded"


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1]), Path(sys.argv[2])))
