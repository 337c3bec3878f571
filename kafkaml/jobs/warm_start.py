"""Local jobs start as forks of a warm process that has imported TensorFlow once.

A training job's program spends about 5 s of processor time importing TensorFlow, web3 and the
Kafka client before it does anything; a training starts an aggregator and a trainer per client,
so on a small machine the imports, not the training, set how long a local training and the test
suite take. Local mode therefore keeps one *warm* process per user and interpreter (``serve``):
it imports those libraries once, then forks a job's supervisor on request (``start_supervisor``),
and the supervisor forks the program (``kafkaml.jobs.supervisor``). A fork shares the imported
pages, so a job starts in a fraction of a second and uses less memory.

What a job sees stays what a fresh ``python -m`` would give it: its own environment (the warm
process itself runs with only the variables every local job inherits), its own ``sys.path`` and
working directory, this project's code imported anew (only third-party libraries are warm), and a
fresh random state (see ``kafkaml.jobs.supervisor``). Cluster and Docker jobs are containers and
never use this.

The warm process listens on a Unix socket in a directory only this user can enter, serves one
JSON request per connection, and exits after ``IDLE_EXIT_S`` without requests; the next launch
starts it again. Running jobs do not depend on it: each supervisor leads its own session.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import signal
import socket
import stat
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from kafkaml import processes
from kafkaml.jobs import supervisor
from kafkaml.jobs.launcher import JobError

#: Third-party libraries the warm process imports; this project's own modules are never kept warm.
PRELOADED = ("tensorflow", "web3", "websockets.sync.client", "kafka", "fastavro", "safetensors.numpy")
#: Seconds without a request after which the warm process exits (``KAFKAML_WARM_IDLE_S`` in its
#: environment, the base environment its launchers pass, sets another).
IDLE_EXIT_S = 300.0
#: Seconds a launch waits for the warm process to answer, its start (the imports) included.
START_TIMEOUT_S = 120.0
#: Seconds between two attempts to start the warm process while none answers (a second one started
#: while the first is still importing exits at once: the first holds the lock).
RESPAWN_EVERY_S = 10.0
#: The largest request the warm process reads (a job's environment and paths).
REQUEST_LIMIT = 1 << 20
#: Part of the socket's name: a launcher never talks to a warm process of another protocol.
PROTOCOL = 1
#: The directory holding this copy of the ``kafkaml`` package: another checkout gets another warm process.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class WarmStartFailed(JobError):
    """The warm process did not start a job's supervisor."""


def start_supervisor(*, job_file: Path, exit_file: Path, log_file: Path, environment: Mapping[str, str],
                     base_environment: Mapping[str, str]) -> int:
    """Start the supervisor of one local job, writing to ``log_file`` with ``environment``; its pid.

    ``base_environment`` is what every local job inherits: the warm process runs with it, and
    launchers with another one (another PATH, say) get a warm process of their own.
    """
    path = socket_path(base_environment)
    request = {"job_file": str(job_file), "exit_file": str(exit_file), "log_file": str(log_file),
               "cwd": os.getcwd(), "environment": dict(environment)}
    deadline = time.monotonic() + START_TIMEOUT_S
    spawned_at = None
    while True:
        try:
            return _ask(path, request)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError, EOFError):
            pass  # not started yet, or exiting after idling: start one (at most every RESPAWN_EVERY_S)
        if time.monotonic() > deadline:
            raise WarmStartFailed(f"the warm job starter did not answer within {START_TIMEOUT_S:.0f} s; "
                                  f"its log: {path.with_suffix('.log')}\n{processes.tail(path.with_suffix('.log'))}")
        if spawned_at is None or time.monotonic() - spawned_at > RESPAWN_EVERY_S:
            _spawn_server(path, base_environment)
            spawned_at = time.monotonic()
        time.sleep(0.05)


def socket_path(base_environment: Mapping[str, str]) -> Path:
    """The warm process's socket for this interpreter, this copy of the code as it is on disk now and
    this environment. A warm process keeps the supervisor it imported: once a file of the package
    changes, jobs go to a new one (the old one exits after its idle time)."""
    identity = json.dumps([PROTOCOL, sys.executable, str(PACKAGE_ROOT), code_version(),
                           sorted(base_environment.items())])
    return runtime_dir() / f"warm-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.sock"


def code_version() -> list[tuple[str, int, int]]:
    """Each module of the package with its modification time and size (a millisecond's stats)."""
    package = PACKAGE_ROOT / "kafkaml"
    version = []
    for path in sorted(package.rglob("*.py")):
        with contextlib.suppress(OSError):
            info = path.stat()
            version.append((str(path.relative_to(package)), info.st_mtime_ns, info.st_size))
    return version


def runtime_dir() -> Path:
    """A directory only this user may enter: the socket starts programs as this user."""
    directory = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"kafkaml-jobs-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) != 0o700:
        raise WarmStartFailed(f"{directory} must be a directory of this user's with mode 0700; remove it")
    return directory


def _ask(path: Path, request: dict) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(30)
        connection.connect(str(path))
        connection.sendall(json.dumps(request).encode() + b"\n")
        answer = read_line(connection)
    if answer is None:
        raise EOFError  # the warm process closed the connection unanswered: it was exiting
    reply = json.loads(answer)
    if "error" in reply:
        raise WarmStartFailed(f"the warm job starter refused the job: {reply['error']}")
    return int(reply["pid"])


def _spawn_server(path: Path, base_environment: Mapping[str, str]) -> None:
    # ``-c``, not ``-m``: the package ``kafkaml.jobs`` imports this module, and ``-m`` would run a second copy.
    command = [sys.executable, "-c", "import sys; from kafkaml.jobs.warm_start import serve; serve(sys.argv[1])", str(path)]
    environment = {**base_environment, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    # From the package's root, so that the import finds this very copy of the code (never by
    # changing this process's directory: launchers run in threads that share it).
    processes.spawn(command, path.with_suffix(".log"), environment, cwd=PACKAGE_ROOT)


def serve(path: Path | str) -> None:
    """Import the libraries, then start a supervisor per request until idle for ``IDLE_EXIT_S`` or
    asked to stop (SIGTERM: the request being answered is finished first)."""
    path = Path(path)
    idle_exit_s = float(os.environ.get("KAFKAML_WARM_IDLE_S", IDLE_EXIT_S))
    lock = hold_lock(path)
    if lock is None:
        return  # another warm process serves this socket
    stop_requested: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop_requested.append(signum))
    for module in PRELOADED:
        importlib.import_module(module)
    supervisor.remember_library_path()
    serve_connections(path, "warm job starter", lock, idle_exit_s, stop_requested,
                      lambda connection, closing: _answer(connection, closing=closing))


def serve_connections(path: Path, name: str, lock: IO[str], idle_exit_s: float, stop_requested: list[int],
                      answer: Callable[[socket.socket, tuple], None]) -> None:
    """Listen on ``path`` and hand each connection to ``answer(connection, closing)`` until a stop
    is requested or none came for ``idle_exit_s`` seconds; ``closing`` is what a fork must close
    (the listening socket and the lock). The loop of both warm processes: this module's and
    :mod:`kafkaml.warm_builder`'s; forks are reaped by the kernel."""
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)
    server.settimeout(1.0)  # how soon a stop request or the idle time is noticed
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print(f"{name} {os.getpid()} ready on {path}", flush=True)
    why = f"idle for {idle_exit_s:g} s"
    last_request = time.monotonic()
    try:
        while not stop_requested:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                if time.monotonic() - last_request > idle_exit_s:
                    break
                continue
            except (ConnectionAbortedError, InterruptedError):  # a caller gone before it was accepted
                continue
            last_request = time.monotonic()
            with connection:
                answer(connection, (server, lock))
        else:
            why = "asked to stop"
    finally:
        path.unlink(missing_ok=True)
        server.close()
    print(f"{name} {os.getpid()} {why}: exiting", flush=True)


def hold_lock(path: Path) -> IO[str] | None:
    """The lock beside the socket ``path``, held, with this process's pid in it (for :func:`stop_all`);
    None when another process holds it (it serves that socket). Held until the file is closed."""
    lock = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 held for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def stop_all(pattern: str = "warm-*.lock") -> list[int]:
    """Ask every warm process of this user serving this copy of the code to exit (their running
    jobs go on); their pids. ``pattern`` names their locks (the warm builder's are ``builder-*.lock``).

    For a test session's end: what it started leaves no process behind for the idle time. Another
    checkout's warm processes (another session's tests, a helper's) are not this one's to stop:
    stopping them made those sessions import TensorFlow again for their next job."""
    stopped = []
    for lock_file in runtime_dir().glob(pattern):
        with open(lock_file) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                continue  # nobody holds it: no warm process behind this file
            except BlockingIOError:
                pass
            try:
                pid = int(lock_file.read_text())
            except ValueError:
                continue
        if not serves_this_code(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    return stopped


def serves_this_code(pid: int) -> bool:
    """Whether warm process ``pid`` runs this copy of the code: both kinds are started in
    :data:`PACKAGE_ROOT` and never leave it (their forks do)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == PACKAGE_ROOT
    except OSError:  # gone, or not ours to inspect
        return False


def _answer(connection: socket.socket, closing: tuple) -> None:
    connection.settimeout(10)
    try:
        line = read_line(connection)
        request = _checked(json.loads(line or b"null"))
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
        return
    pid = os.fork()
    if pid == 0:
        for resource in (*closing, connection):
            resource.close()  # the lock too: a supervisor must not keep the next warm process out
        _become_supervisor(request)
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _checked(request: object) -> dict:
    """The request's fields, typed; anything else is refused (the socket is this user's only)."""
    if not isinstance(request, dict):
        raise ValueError("a request is a JSON object")
    for field in ("job_file", "exit_file", "log_file", "cwd"):
        if not isinstance(request.get(field), str) or not os.path.isabs(request[field]):
            raise ValueError(f"{field} must be an absolute path")
    environment = request.get("environment")
    if not isinstance(environment, dict) or not all(
            isinstance(name, str) and isinstance(value, str) for name, value in environment.items()):
        raise ValueError("environment must map names to strings")
    return request


def _become_supervisor(request: dict) -> None:
    """In the forked child: a session of its own, the job's output, directory and environment."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(request["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environment"])
        code = supervisor.supervise(Path(request["job_file"]), Path(request["exit_file"]))
    except BaseException:  # noqa: BLE001 nothing may return into the warm process's loop
        traceback.print_exc()
    finally:
        exit_fork(code)


def read_line(connection: socket.socket) -> bytes | None:
    """One newline-ended message of at most REQUEST_LIMIT bytes; None when the peer sent nothing."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            return data or None
        data += chunk
        if len(data) > REQUEST_LIMIT:
            raise ValueError(f"a request is at most {REQUEST_LIMIT} bytes")
    return data


def exit_fork(code: int) -> None:
    """End a fork of a warm process with ``code``: its output flushed, and nothing run that the
    warm process set up (``atexit`` handlers, ``finally`` blocks of its loop)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
