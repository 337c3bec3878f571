"""Model builds forked from a warm process that has imported TensorFlow, each in a sandbox of its own.

A sandboxed build used to start a fresh interpreter in :mod:`kafkaml.sandbox` and import
TensorFlow and Keras there: some 5 to 7 s of processor time per build, for a build that itself
takes a fraction of a second. :func:`kafkaml.builder.build_isolated` therefore asks a **warm
builder** (:func:`serve`) first: one process per user, interpreter, copy of the code and
environment, which has imported TensorFlow, Keras and this package's builder modules, and
nothing else. Per build it forks; the fork enters the very sandbox a fresh build enters
(:func:`kafkaml.sandbox.start`, the same code) and runs :func:`kafkaml.builder.main` there, in
process. The answer and log are files of the caller's, read bounded and checked again by the
caller exactly as for a fresh build. Where the warm builder cannot be used (it does not start,
or refuses the request) the caller builds in a fresh process instead; nothing of the source has
run then.

What keeps one user's code from another's, and from the platform:

* **The warm process never reads a request.** It accepts a connection and forks; only the fork
  reads the request. So no source, shape or answer of anyone's is ever in the memory that later
  forks inherit: the warm process holds the imported libraries and its environment, which is
  the clean one a fresh build gets (``kafkaml.builder._clean_env``: no key, no ``KAFKAML_*``
  setting). The source itself is never even in the fork's memory outside the sandbox: it comes
  as the build's stdin, a file the caller opened, and :func:`kafkaml.builder.main` reads it in
  the sandbox, as a fresh build does.
* **The request carries descriptors, not paths.** The caller sends, with ``SCM_RIGHTS``, its
  fresh work directory and the three files that become the build's stdin, stdout and stderr
  (source, answer, log); the JSON beside them holds only the shapes, the paths to hide and the
  limits (at most :data:`REQUEST_LIMIT` bytes, typed and checked). The peer must be this user
  (``SO_PEERCRED``), and the socket lies in a directory only this user may enter
  (``kafkaml.jobs.warm_start.runtime_dir``).
* **Each fork enters the same sandbox before any user code runs**: a session of its own (the
  caller's wall-clock timeout kills that process group, as it kills a fresh build's), the
  builder's resource limits (address space, CPU seconds, file size, processes), then new user,
  mount, network, IPC, UTS and PID namespaces, the read-only view, the scratch tmpfs, uid 65534
  with no capabilities, ``no_new_privs``, a session keyring of its own and no user namespaces
  below. What an ``exec`` would have done is done explicitly (``kafkaml.sandbox._as_if_executed``
  and ``_drop_privileges``): every descriptor but 0, 1 and 2 closed (the connection, the work
  directory), the warm process's signal handlers reset, every capability dropped. One thing
  differs, the stricter way: where the platform runs as root, the change to uid 65534 leaves the
  process non-dumpable (an exec would reset that), so its ``/proc/self/mem`` and the like belong
  to the namespace's root, closed even to the build itself.
* **The order that makes it possible.** The kernel creates a user namespace only for a
  single-threaded caller, and TensorFlow's import leaves the warm process with a second thread.
  A fork has one thread, the one that called ``fork``: so the warm process forks first and the
  fork unshares (through the sandbox's own helper process, as for a fresh build). The warm
  process must not have started TensorFlow's runtime (no operation, no eager context) before
  forking, or the fork would inherit locks held by threads it does not have: it only imports.
* **What forks share is what any process of the same libraries shares**: the libraries' code and
  data as imported, their addresses (one layout for every build; it protects nothing from code
  that already runs in the process) and Python's hash seed. A build cannot change the warm
  process (its pages are copied on write) nor see another build (another PID namespace).

The fork (outside the sandbox) reports its pid (the process group the caller kills at its
timeout), waits for the sandbox's process while watching the connection (a caller that went away
takes its build with it) and reports the exit code. The warm process exits after
:data:`IDLE_EXIT_S` without a connection; SIGTERM (:func:`stop_all`) ends it after the
connection it is accepting. ``BUILDER_SANDBOX=off`` and a cluster's builder Jobs never use it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kafkaml import sandbox
from kafkaml.jobs import warm_start

#: Seconds without a connection after which the warm builder exits.
IDLE_EXIT_S = 300.0
#: Seconds a build waits for the warm builder to answer, its start (TensorFlow's import) included;
#: after that it builds in a fresh process.
START_TIMEOUT_S = 120.0
#: Seconds between two attempts to start the warm builder while none answers.
RESPAWN_EVERY_S = 10.0
#: The largest request a fork reads: the shapes, the paths to hide and the limits.
REQUEST_LIMIT = 64 * 1024
#: Descriptors a request carries: the work directory, then the build's stdin, stdout and stderr.
DESCRIPTORS = 4
#: Part of the socket's name: a caller never talks to a warm builder of another protocol.
PROTOCOL = 1
#: What the warm builder imports (TensorFlow's runtime is not started: only the modules are loaded).
PRELOADED = ("tensorflow", "keras", "numpy", "kafkaml.builder", "kafkaml.model_source")


class Unavailable(RuntimeError):
    """The warm builder did not take the build; nothing of the source ran (build it fresh)."""


class Lost(RuntimeError):
    """The build's process ended without reporting how the build ended."""


# --- the caller's side ------------------------------------------------------------------------------


def run(*, work: int, stdio: Sequence[int], input_shape: list[int] | None, output_shape: list[int] | None,
        hidden: Sequence[str], cpu_s: float, memory_mb: int, environment: Mapping[str, str],
        timeout_s: float) -> int:
    """Build in a fork of the warm builder: the exit code of the sandbox, as a fresh build's
    (negative for a death by signal). ``work`` is a descriptor of the caller's fresh work directory,
    ``stdio`` the build's stdin (the source), stdout (the answer) and stderr (the log).

    Raises :class:`Unavailable` when the warm builder did not take the build (nothing ran),
    :class:`TimeoutError` when the build outlasted ``timeout_s`` (its process group is killed)
    and :class:`Lost` when its process ended without a report.
    """
    request = json.dumps({"input_shape": input_shape, "output_shape": output_shape, "hidden": list(hidden),
                          "cpu_s": cpu_s, "memory_mb": memory_mb}).encode() + b"\n"
    if len(request) > REQUEST_LIMIT:
        raise Unavailable(f"the request is longer than {REQUEST_LIMIT} bytes")
    try:
        path = socket_path(environment)
    except (OSError, warm_start.WarmStartFailed) as exc:  # the socket's directory is not this user's alone
        raise Unavailable(str(exc)) from None
    connection, group = _start(path, environment, request, [work, *stdio])
    with connection:
        connection.settimeout(timeout_s)
        try:
            ended = _message(connection)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            raise
        except (OSError, ValueError) as exc:
            raise Lost(f"reading the build's report: {exc}") from None
    if not isinstance(ended, dict) or not isinstance(ended.get("code"), int):
        raise Lost("the build's process ended without reporting its exit")
    return ended["code"]


def socket_path(environment: Mapping[str, str]) -> Path:
    """The warm builder's socket for this interpreter, this copy of the code as it is on disk now and
    this environment. A warm builder keeps the code it imported, the sandbox's included: once a file
    of the package changes, builds go to a new one (the old one exits after its idle time)."""
    identity = json.dumps([PROTOCOL, sys.executable, str(warm_start.PACKAGE_ROOT), warm_start.code_version(),
                           sorted(environment.items())])
    return warm_start.runtime_dir() / f"builder-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.sock"


def stop_all() -> list[int]:
    """Ask every warm builder of this user to exit (builds running go on); their pids."""
    return warm_start.stop_all("builder-*.lock")


def _start(path: Path, environment: Mapping[str, str], request: bytes,
           descriptors: list[int]) -> tuple[socket.socket, int]:
    """The connection to a fork that took the request, and its process group; the warm builder is
    started when none answers. A connection closed before the fork reported its pid (a warm
    builder exiting after its idle time) is tried again: nothing ran before that report."""
    deadline = time.monotonic() + START_TIMEOUT_S
    spawned: subprocess.Popen | None = None
    spawned_at = 0.0
    unanswered = 0
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        started = None
        try:
            connection.settimeout(30)
            connection.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            pass  # not started yet, or gone after its idle time
        except OSError as exc:  # e.g. a socket path longer than AF_UNIX allows
            connection.close()
            raise Unavailable(f"the warm builder cannot be reached at {path}: {exc}") from None
        else:
            try:
                socket.send_fds(connection, [request], descriptors)
                started = _message(connection)
            except (ConnectionResetError, BrokenPipeError):
                pass
            except (OSError, ValueError) as exc:
                connection.close()
                raise Unavailable(f"the warm builder did not answer: {exc}") from None
            unanswered += started is None
        if isinstance(started, dict) and isinstance(started.get("pid"), int):
            return connection, started["pid"]
        connection.close()
        if started is not None:
            raise Unavailable(f"the warm builder refused the build: {started}")
        if unanswered > 2:  # one exiting after its idle time explains one; more is a fork failing
            raise Unavailable(f"the warm builder closed {unanswered} connections unanswered; its log: "
                              f"{path.with_suffix('.log')}\n{_tail(path.with_suffix('.log'))}")
        if spawned is not None and spawned.poll() not in (None, 0):  # 0: another one holds the lock
            raise Unavailable(f"the warm builder exited with code {spawned.returncode} at its start; its log: "
                              f"{path.with_suffix('.log')}\n{_tail(path.with_suffix('.log'))}")
        if time.monotonic() > deadline:
            raise Unavailable(f"the warm builder did not answer within {START_TIMEOUT_S:.0f} s")
        if spawned is None or (spawned.poll() is not None and time.monotonic() - spawned_at > RESPAWN_EVERY_S):
            spawned, spawned_at = _spawn(path, environment), time.monotonic()
        time.sleep(0.05)


def _spawn(path: Path, environment: Mapping[str, str]) -> subprocess.Popen:
    # ``-c``: ``-m`` would put the working directory first on sys.path under another name.
    command = [sys.executable, "-c", "import sys; from kafkaml.warm_builder import serve; serve(sys.argv[1])",
               str(path)]
    with open(path.with_suffix(".log"), "ab") as log:
        # Started from the package's root, so that the import finds this very copy of the code, with
        # exactly the environment a fresh build gets (nothing of the caller's), in a session of its own.
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(environment), cwd=warm_start.PACKAGE_ROOT, start_new_session=True)


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:])
    return ""


def _message(connection: socket.socket) -> Any:
    line = warm_start.read_line(connection)
    return None if line is None else json.loads(line)


# --- the warm builder ---------------------------------------------------------------------------


def serve(path: Path | str, idle_exit_s: float = IDLE_EXIT_S) -> None:
    """Import the builder's libraries, then fork a build per connection until idle for
    ``idle_exit_s`` or asked to stop (SIGTERM)."""
    path = Path(path)
    lock = warm_start.hold_lock(path)
    if lock is None:
        return  # another warm builder serves this socket
    stop_requested: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop_requested.append(signum))
    for module in PRELOADED:
        __import__(module)
    gc.freeze()  # the imports' objects stay in pages the forks share instead of copying them at a collection
    warm_start.serve_connections(path, "warm builder", lock, idle_exit_s, stop_requested, _fork_build)


def _fork_build(connection: socket.socket, closing: tuple) -> None:
    """Nothing is read here: the fork reads the request, so none is ever in this process's memory."""
    if os.fork() == 0:
        _serve_one(connection, closing=closing)


def _serve_one(connection: socket.socket, closing: tuple) -> None:
    """In the fork: one build, then exit; nothing returns into the warm builder's loop."""
    code = 1
    try:
        for item in closing:
            item.close()  # the lock too: a build must not keep the next warm builder out
        os.setsid()  # the process group the caller kills at its timeout
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = _build(connection)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        warm_start.exit_fork(code)


def _build(connection: socket.socket) -> int:
    connection.settimeout(10)
    try:
        caller, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   struct.calcsize("3i")))
        if uid != os.getuid():
            raise ValueError(f"the peer's uid {uid} is not this user's")
        sandbox.set_name(f"kbuild-{caller}")  # in ps: a build, and the process it runs for
        request, descriptors = _receive(connection)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
        return 1
    work, *stdio = descriptors
    os.fchdir(work)  # outside the view, which is mounted over it
    for target, descriptor in enumerate(stdio):
        os.dup2(descriptor, target)
    keep = connection.fileno()
    os.closerange(3, keep)  # the descriptors received, and whatever the warm builder had open
    os.closerange(keep + 1, sandbox.open_max())
    sandbox.set_limits(request["cpu_s"], request["memory_mb"], sandbox.tasks_of_this_user() + sandbox.PROCESS_LIMIT)
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    argv = ["--input-shape", json.dumps(request["input_shape"]), "--output-shape", json.dumps(request["output_shape"])]
    helper = sandbox.start(request["hidden"], functools.partial(_build_in_sandbox, argv), in_process=True)
    code = _wait_watching(helper, connection)
    connection.sendall(json.dumps({"code": code}).encode() + b"\n")
    return 0


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request, bounded and checked, and its descriptors (closed again if it is refused)."""
    data, descriptors, flags, _ = socket.recv_fds(connection, REQUEST_LIMIT + 1, DESCRIPTORS)
    try:
        if flags & socket.MSG_CTRUNC or len(descriptors) != DESCRIPTORS:
            raise ValueError(f"a request carries {DESCRIPTORS} descriptors")
        while not data.endswith(b"\n"):
            chunk = connection.recv(REQUEST_LIMIT)
            if not chunk:
                raise ValueError("the request ended early")
            data += chunk
            if len(data) > REQUEST_LIMIT:
                raise ValueError(f"a request is at most {REQUEST_LIMIT} bytes")
        if len(data) > REQUEST_LIMIT:
            raise ValueError(f"a request is at most {REQUEST_LIMIT} bytes")
        return _checked(json.loads(data)), descriptors
    except BaseException:
        for descriptor in descriptors:
            os.close(descriptor)
        raise


def _checked(request: object) -> dict[str, Any]:
    """The request's fields, typed; anything else is refused."""
    if not isinstance(request, dict) or set(request) != {"input_shape", "output_shape", "hidden", "cpu_s",
                                                          "memory_mb"}:
        raise ValueError("a request is a JSON object of input_shape, output_shape, hidden, cpu_s and memory_mb")
    for field in ("input_shape", "output_shape"):
        shape = request[field]
        if shape is not None and not (isinstance(shape, list) and all(
                isinstance(n, int) and not isinstance(n, bool) for n in shape)):
            raise ValueError(f"{field} must be a list of integers or null")
    hidden = request["hidden"]
    if not isinstance(hidden, list) or not all(isinstance(path, str) and os.path.isabs(path) for path in hidden):
        raise ValueError("hidden must be a list of absolute paths")
    for field in ("cpu_s", "memory_mb"):
        value = request[field]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1 << 40:
            raise ValueError(f"{field} must be a positive number")
    return request


def _wait_watching(pid: int, connection: socket.socket) -> int:
    """The exit code of ``pid``; a caller that closes the connection (it gave up, or died) kills it,
    and with it the sandbox (its first process dies with it, and the namespace with its first)."""
    pidfd = os.pidfd_open(pid)
    try:
        readable, _, _ = select.select([pidfd, connection], [], [])
        if connection in readable and pidfd not in readable:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _build_in_sandbox(argv: list[str]) -> None:
    """In the sandbox's first process: what ``python -m kafkaml.builder ARGV`` does, then exit.
    The builder is run as a program, by its module's name, as the jobs' warm process runs a job's
    (its heavy imports are already loaded here)."""
    code = 1
    try:
        sys.argv = ["kafkaml.builder", *argv]
        runpy.run_module("kafkaml.builder", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 as an uncaught exception ends a fresh interpreter
        traceback.print_exc()
    finally:
        warm_start.exit_fork(code)
