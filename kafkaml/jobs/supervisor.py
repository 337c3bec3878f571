"""The supervisor of one local job: runs its program, records how it ended.

Only a process's parent learns its exit code. The launcher that started a local job may be gone
when someone asks (a backend restarted mid-training), so this small parent runs the program and
writes its outcome to ``EXIT_FILE`` (beside the job's other files), where any process can read it. It
also does for a local job what Kubernetes does for a Job: it enforces the active deadline and
retries a failed program up to the backoff limit.

It leads the job's process group. Stopping the job signals the whole group: the program ends,
while the supervisor only notes the request, records the program's exit code and leaves.

The supervisor is a fork of the warm process (:mod:`kafkaml.jobs.warm_start`), and so is each
attempt of its program: a ``python -m`` program of this interpreter runs in the fork itself, as a
fresh interpreter would run it (``run_module_as_fresh``), any other program is executed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import runpy
import select
import signal
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

#: Seconds a program past its deadline gets between SIGTERM and SIGKILL.
DEADLINE_GRACE_S = 5.0
#: The exit code of a program that could not be started (a shell's "command not found").
COMMAND_NOT_STARTED = 127
#: The exit code of a Python program ended by an unhandled KeyboardInterrupt (SIGINT).
INTERRUPTED = 130

#: ``sys.path`` without the entries a program's start adds (its directory, PYTHONPATH): the
#: standard library and the installed packages. Set by the warm process before it forks.
_library_path: list[str] = []


def remember_library_path() -> None:
    """Note the interpreter's own import path (call once, in the warm process, before forking)."""
    own = {entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
    _library_path[:] = [entry for entry in sys.path[1:] if entry not in own]


def exit_code(returncode: int) -> int:
    """A shell's (and Kubernetes') exit code: 128 + n for a program killed by signal n."""
    return 128 - returncode if returncode < 0 else returncode


def run_once(argv: list[str], deadline: float | None) -> tuple[int, bool]:
    """Run the program once in a forked child; return its exit code and whether the deadline ended it."""
    pid = os.fork()
    if pid == 0:
        _run_program(argv)
    with os.fdopen(os.pidfd_open(pid), "rb", buffering=0) as pidfd:
        if _wait_readable(pidfd, deadline):
            return exit_code(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), False
        print(f"[supervisor] active deadline exceeded: stopping pid {pid}", flush=True)
        os.kill(pid, signal.SIGTERM)
        if not _wait_readable(pidfd, time.monotonic() + DEADLINE_GRACE_S):
            os.kill(pid, signal.SIGKILL)
        return exit_code(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), True


def _wait_readable(pidfd, deadline: float | None) -> bool:
    """True when the process behind ``pidfd`` ended before ``deadline`` (None: wait for it)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while True:
        timeout_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        if poller.poll(timeout_ms):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _run_program(argv: list[str]) -> None:
    """In the forked child: become the program; never returns."""
    # The supervisor's handlers note a stop request; the program gets what a fresh process has.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if argv[:2] == [sys.executable, "-m"] and len(argv) >= 3:
        os._exit(run_module_as_fresh(argv[2], argv[3:]))
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"[supervisor] cannot start {argv[0]}: {exc.strerror}", flush=True)
    os._exit(COMMAND_NOT_STARTED)


def run_module_as_fresh(module: str, arguments: list[str]) -> int:
    """Run ``python -m module arguments`` in this (forked) process as a fresh interpreter would; its exit code.

    What would differ from a fresh start is undone: the import path is the one a fresh start
    computes from the working directory and PYTHONPATH; this project's modules imported by the
    warm process are dropped, so the program imports its own copy; the random generators a fork
    would share are seeded anew (Python's ``random`` reseeds itself after a fork, NumPy does not).
    """
    extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [os.getcwd(), *extra, *_library_path]
    for name in [name for name in sys.modules if name == "kafkaml" or name.startswith("kafkaml.")]:
        del sys.modules[name]
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    sys.argv = [module, *arguments]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _system_exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = INTERRUPTED
    except BaseException:  # noqa: BLE001 as the interpreter does: print it, exit 1
        traceback.print_exc()
        code = 1
    # What an interpreter does on its way out: wait for its non-daemon threads, run atexit handlers.
    threading._shutdown()  # noqa: SLF001 as multiprocessing does for its forked children
    atexit._run_exitfuncs()  # noqa: SLF001
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def _system_exit_code(value: object) -> int:
    """The exit status ``sys.exit(value)`` gives a fresh interpreter."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def supervise(job_file: Path, exit_file: Path) -> int:
    """Run the program ``job_file`` describes (argv, deadline, retries); write its outcome to ``exit_file``."""
    job = json.loads(job_file.read_text())
    stop_requested: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
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
    # The program's processor time (every attempt, and whatever it waited for): a job is not a
    # child of whoever launched it, so this is where its cost can be read (benchmarks do).
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome = {"exit_code": code, "reason": _reason(code, deadline_exceeded, bool(stop_requested)), "attempts": attempt,
               "finished_at": datetime.now(UTC).isoformat(), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}
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
