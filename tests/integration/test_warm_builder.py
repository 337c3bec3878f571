"""Model builds forked from the warm builder (``kafkaml.warm_builder``): each runs in the same
sandbox as a fresh build, sees nothing of another build, dies with its timeout or its caller, and
the warm builder ends with the test session.

The fresh path is made to fail in these tests (``warm_only``), so a build that passed went
through the warm builder; the user code also reports its own command line, which is the warm
builder's (a fork of it). The tests of ``test_builder.py`` run through the warm builder too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kafkaml
from kafkaml import builder, sandbox, warm_builder
from kafkaml.builder import BuildLimitError, build_isolated
from kafkaml.model_source import ModelExecutionError
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.conftest import require_the_sandbox

PACKAGE_ROOT = Path(kafkaml.__file__).resolve().parents[1]


@pytest.fixture()
def warm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that would fall back to a fresh interpreter fails the test instead."""
    require_the_sandbox()

    def fresh(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("the build ran in a fresh interpreter, not in a fork of the warm builder")

    monkeypatch.setattr(builder, "_build_fresh", fresh)


@pytest.fixture()
def runtime() -> Iterator[Path]:
    """A runtime directory of the test's own (a warm builder of its own), short enough for a socket
    path (108 bytes at most: a test's tmp_path is too long)."""
    directory = Path(tempfile.mkdtemp(prefix="kafkaml-test-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def seen_by(source: str, **kwargs: object) -> dict[str, str]:
    """What a source reports by raising ``RuntimeError(json.dumps(seen))``."""
    with pytest.raises(ModelExecutionError) as caught:
        build_isolated(source, **kwargs)
    return json.loads(str(caught.value).split(": ", 1)[1])


#: User code that tries what a planted backdoor needs, and reports what it is.
PROBE = """
import ctypes, json, os, platform, socket
libc = ctypes.CDLL(None, use_errno=True)
seen = {}
def attempt(name, action):
    try:
        action()
        seen[name] = "done"
    except OSError as exc:
        seen[name] = type(exc).__name__
def append_package():
    with open(PACKAGE_FILE, "a") as handle:
        handle.write("import this  # planted")
def plant_module():
    open(PLANTED, "w").close()
def connect_unix(path):
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(3)
    client.connect(path)
def check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), what)
class MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]
def remount_writable():  # clear the view's read-only flag, as a process with CAP_SYS_ADMIN could
    attr = MountAttr(attr_clr=1)
    check(libc.syscall(442, -100, b"/", 0x8000, ctypes.byref(attr), ctypes.sizeof(attr)), "mount_setattr")
attempt("package", append_package)
attempt("virtualenv", plant_module)
attempt("platform_socket", lambda: connect_unix(PLATFORM_SOCKET))
attempt("warm_builder_socket", lambda: connect_unix(WARM_SOCKET))
attempt("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3))
attempt("userns", lambda: check(libc.unshare(0x10000000), "unshare"))
attempt("remount", remount_writable)
attempt("scratch", lambda: open("scratch.txt", "w").close())
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"):
    seen[key] = status[key].strip()
seen["ids"] = f"{os.getuid()},{os.getgid()}"
seen["uid_map"] = " ".join(open("/proc/self/uid_map").read().split())
def target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "gone"  # the listing's own
seen["fds"] = {fd: target(fd) for fd in os.listdir("/proc/self/fd")}
seen["cmdline"] = open("/proc/self/cmdline").read().replace("\\0", " ")
seen["comm"] = open("/proc/self/comm").read().strip()
seen["root"] = ",".join(sorted(os.listdir("/")))
seen["env"] = ",".join(sorted(os.environ))
raise RuntimeError(json.dumps(seen))
"""


def probe(**values: object) -> str:
    return "".join(f"{name} = {value!r}\n" for name, value in values.items()) + PROBE


def test_a_warm_build_runs_in_the_same_sandbox(tmp_path: Path, warm_only: None) -> None:
    package_file = Path(kafkaml.__file__).resolve()
    before = package_file.read_bytes()
    planted = Path(sysconfig.get_paths()["purelib"]) / f"planted_{uuid.uuid4().hex[:8]}.py"
    platform_socket = socket.socket(socket.AF_UNIX)
    platform_socket.bind(str(tmp_path / "platform.sock"))
    listener = socket.create_server(("127.0.0.1", 0))
    for server in (platform_socket, listener):
        server.listen()
        server.setblocking(False)
    try:
        seen = seen_by(probe(PACKAGE_FILE=str(package_file), PLANTED=str(planted),
                             PLATFORM_SOCKET=str(tmp_path / "platform.sock"), PORT=listener.getsockname()[1],
                             WARM_SOCKET=str(warm_builder.socket_path(builder._clean_env(Path(sandbox.SCRATCH))))))
        for server in (platform_socket, listener):
            with pytest.raises(BlockingIOError):
                server.accept()
    finally:
        platform_socket.close()
        listener.close()
    assert "kafkaml.warm_builder import serve" in seen["cmdline"], "a fork of the warm builder ran it"
    assert seen["comm"] == Path(sys.executable).name[:15], "named as an exec would have named it, not kbuild-<pid>"
    assert seen["package"] in ("PermissionError", "OSError") and package_file.read_bytes() == before
    assert seen["virtualenv"] in ("PermissionError", "OSError") and not planted.exists()
    assert seen["platform_socket"] == "FileNotFoundError" and seen["warm_builder_socket"] == "FileNotFoundError"
    assert seen["network"] in ("OSError", "ConnectionRefusedError"), seen["network"]
    assert seen["userns"] == "OSError" and seen["remount"] == "PermissionError"
    assert seen["scratch"] == "done", "the scratch directory is writable (so the refusals above are not a fluke)"
    assert seen["ids"] == "65534,65534" and "65534 65534 1" in seen["uid_map"]
    no_capability = "0000000000000000"
    assert [seen[key] for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")] == [
        no_capability] * 5 + ["1"]
    # The source, the log (as stderr, and as stdout: the builder keeps the answer on a copy of its
    # stdout) and the listing's own: the connection to the warm builder's fork and the work directory
    # (a way out of the view through openat) are closed, as an exec would have closed them.
    targets = sorted(Path(target).name for target in seen["fds"].values())
    assert targets == ["answer.json", "build.log", "build.log", "gone", "source.py"], seen["fds"]
    assert not {"home", "run", "var", "srv"} & set(seen["root"].split(","))
    assert not [name for name in seen["env"].split(",") if name.startswith(("ETH_", "KAFKAML_"))]


#: The first build leaves its marker wherever a later build could look: its source, a module, the
#: builtins, the environment, a file in its scratch directory.
FIRST = """
import builtins, os, sys, types
MARKER = "kafkaml-first-build-{secret}"
sys.modules["kafkaml_first_build"] = types.ModuleType(MARKER)
builtins.kafkaml_first_build = MARKER
os.environ["KAFKAML_FIRST_BUILD"] = MARKER
open("/tmp/first-build.txt", "w").write(MARKER)
"""

#: The second build looks there, and searches its whole memory for the marker's pattern. Its own
#: source holds one such string (``CONTROL``): finding that proves a source read in this process
#: would be found, and so that the first build's is not in the memory the forks inherit.
SECOND = """
import builtins, ctypes, json, os, re, sys
CONTROL = "kafkaml-first-build-{control}"
pattern = re.compile(rb"kafkaml-first-build-([0-9a-f]{{32}})")
found = set()
with open("/proc/self/maps") as maps:
    regions = [line.split() for line in maps]
for region in regions:
    start, end = (int(n, 16) for n in region[0].split("-"))
    # Anything a process wrote is in a private writable region (a file's read-only pages are the
    # file's). Read through ctypes: /proc/self/mem belongs to root once the uid changed in process.
    if not region[1].startswith("rw") or region[1][3] != "p" or (len(region) > 5 and region[5] == "[vvar]"):
        continue
    position, tail = start, b""
    while position < end:
        size = min(16 << 20, end - position)
        chunk = ctypes.string_at(position, size)
        found.update(match.decode() for match in pattern.findall(tail + chunk))
        position, tail = position + size, chunk[-64:]
seen = {{"found": sorted(found), "module": "kafkaml_first_build" in sys.modules,
        "builtin": hasattr(builtins, "kafkaml_first_build"), "env": "KAFKAML_FIRST_BUILD" in os.environ,
        "scratch": sorted(os.listdir("/tmp"))}}
raise RuntimeError(json.dumps(seen))
"""


def test_a_build_sees_nothing_of_the_build_before(warm_only: None) -> None:
    secret, control = uuid.uuid4().hex, uuid.uuid4().hex
    first = FIRST.format(secret=secret) + TOY_MODEL_SOURCE
    assert build_isolated(first, input_shape=(8,), output_shape=(3,)).parameters == 195
    seen = seen_by(SECOND.format(control=control))
    assert control in seen["found"], "the search finds a source read in this process (else it proves nothing)"
    assert secret not in seen["found"], "the first build's source is in the memory of the second"
    assert (seen["module"], seen["builtin"], seen["env"], seen["scratch"]) == (False, False, False, [])


#: Hangs without using the processor (so only the wall clock can end it), with a child of its own;
#: both carry a name of the test's, for it to find them from outside the sandbox.
HANGING = """
import ctypes, subprocess, time
ctypes.CDLL(None).prctl(15, NAME.encode(), 0, 0, 0)
subprocess.Popen(["sleep", SLEEP])
time.sleep(1000)
"""


def processes_named(name: str, sleep: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm == name or cmdline[:2] == [b"sleep", sleep.encode()]:
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def hanging_source() -> tuple[str, str, str]:
    name, sleep = f"kmhang{uuid.uuid4().hex[:8]}", f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    return f"NAME = {name!r}\nSLEEP = {sleep!r}\n" + HANGING, name, sleep


def stopped_at_its_timeout(source: str, name: str, sleep: str, timeout_s: float) -> None:
    """Build ``source`` (which hangs) in a thread; it must be seen running, end with the timeout's
    error in time, and leave no process named ``name`` (nor its ``sleep``) behind."""
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: outcome.append(pytest.raises(BuildLimitError, build_isolated, source,
                                                                          timeout_s=timeout_s).value))
    started = time.monotonic()
    thread.start()
    wait_for(lambda: processes_named(name, sleep), 30, "the build never ran")
    thread.join(60)
    assert not thread.is_alive()
    assert f"longer than {timeout_s:.0f} s and was stopped" in str(outcome[0])
    assert time.monotonic() - started < timeout_s + 20
    wait_for(lambda: not processes_named(name, sleep), 10, "the timed-out build left processes behind")


def test_a_warm_build_that_hangs_is_killed_with_everything_it_started(warm_only: None) -> None:
    source, name, sleep = hanging_source()
    stopped_at_its_timeout(source, name, sleep, 8)
    assert not processes_named(name, sleep)


#: Leaves the build's process group and clears its parent-death signal: neither the group's death
#: nor its parent's reaches it, only the end of its PID namespace.
ESCAPING = """
import ctypes, os, time
libc = ctypes.CDLL(None)
libc.prctl(15, NAME.encode(), 0, 0, 0)
os.setsid()
libc.prctl(1, 0, 0, 0, 0)
time.sleep(1000)
"""


def test_a_build_that_leaves_its_process_group_is_still_killed_at_the_timeout(warm_only: None) -> None:
    name = f"kmesc{uuid.uuid4().hex[:8]}"
    stopped_at_its_timeout(f"NAME = {name!r}\n" + ESCAPING, name, "-", 8)


CALLER = """
import sys
from kafkaml import builder
def fresh(*args, **kwargs):
    raise AssertionError("the build ran in a fresh interpreter")
builder._build_fresh = fresh
builder.build_isolated(sys.stdin.read(), timeout_s=300)
"""


def test_a_warm_build_dies_with_its_caller(tmp_path: Path, warm_only: None) -> None:
    """A platform process killed mid-build takes the build with it (a fresh build dies with its
    parent; a warm one's fork notices the caller's connection close)."""
    source, name, sleep = hanging_source()
    caller = subprocess.Popen([sys.executable, "-c", CALLER], stdin=subprocess.PIPE, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)})
    assert caller.stdin is not None
    caller.stdin.write(source.encode())
    caller.stdin.close()
    try:
        wait_for(lambda: len(processes_named(name, sleep)) == 2, 60, "the build and its child never ran")
    finally:
        caller.send_signal(signal.SIGKILL)
        caller.wait()
    wait_for(lambda: not processes_named(name, sleep), 10, "the build outlived its caller")


def test_a_refused_request_runs_nothing(tmp_path: Path) -> None:
    """The warm builder's fork reads the request bounded and typed; what it refuses never starts."""
    require_the_sandbox()
    build_isolated(TOY_MODEL_SOURCE)  # the warm builder is running
    path = warm_builder.socket_path(builder._clean_env(Path(sandbox.SCRATCH)))
    marker = tmp_path / "ran"
    (tmp_path / "source.py").write_text(f"open({str(marker)!r}, 'w')\n")

    def ask(request: bytes, descriptors: int = warm_builder.DESCRIPTORS) -> object:
        files = [os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)] + [
            os.open(tmp_path / "source.py", os.O_RDONLY) for _ in range(descriptors - 1)]
        try:
            with socket.socket(socket.AF_UNIX) as connection:
                connection.settimeout(30)
                connection.connect(str(path))
                socket.send_fds(connection, [request], files)
                return json.loads(connection.makefile("rb").readline() or b"null")
        finally:
            for descriptor in files:
                os.close(descriptor)

    good = {"input_shape": None, "output_shape": None, "hidden": [], "cpu_s": 10, "memory_mb": 4096}
    assert "a request is at most" in ask(b"x" * (warm_builder.REQUEST_LIMIT + 10))["error"]
    assert "descriptors" in ask(json.dumps(good).encode() + b"\n", descriptors=2)["error"]
    assert "hidden must be" in ask(json.dumps({**good, "hidden": ["relative"]}).encode() + b"\n")["error"]
    assert "input_shape" in ask(json.dumps({**good, "input_shape": "8"}).encode() + b"\n")["error"]
    assert "a request is" in ask(json.dumps({**good, "extra": 1}).encode() + b"\n")["error"]
    assert not marker.exists()


def test_without_a_usable_warm_builder_the_build_starts_fresh(runtime: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A runtime directory that is not this user's alone (mode 0755) must not be used for the warm
    builder's socket: the build goes to a fresh interpreter in the same sandbox instead."""
    require_the_sandbox()
    (runtime / f"kafkaml-jobs-{os.getuid()}").mkdir(mode=0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    fresh_builds = []
    build_fresh = builder._build_fresh
    monkeypatch.setattr(builder, "_build_fresh", lambda *args: fresh_builds.append(args[0]) or build_fresh(*args))
    source = TOY_MODEL_SOURCE + "assert 'warm_builder' not in open('/proc/self/cmdline').read()\n"
    assert build_isolated(source, input_shape=(8,), output_shape=(3,)).parameters == 195
    assert len(fresh_builds) == 1 and fresh_builds[0][:3] == [sys.executable, "-m", "kafkaml.sandbox"]
    assert "building in a fresh process" in caplog.text and "must be a directory of this user's" in caplog.text
    assert not list(runtime.rglob("builder-*"))


UNPRIVILEGED = """
import json, sys
from kafkaml import builder, sandbox, warm_builder
def fresh(*args, **kwargs):
    raise AssertionError("the build ran in a fresh interpreter")
builder._build_fresh = fresh
try:
    builder.build_isolated(sys.stdin.read())
except Exception as exc:
    print(str(exc).split(": ", 1)[1])
finally:
    warm_builder.stop_all()
"""


def test_as_an_unprivileged_platform_user_a_warm_build_has_no_capability(tmp_path: Path, runtime: Path) -> None:
    """An unprivileged user maps only its own uid: the sandbox's uid 65534 is that user, and its
    capabilities in the namespace would last until an ``exec``, which a warm build never does.
    Simulated as in ``test_sandbox.py`` (the platform is uid 1000 in a user namespace of the
    test's); the build's process must hold no capability and find the view read-only."""
    require_the_sandbox()
    package_file = Path(kafkaml.__file__).resolve()
    before = package_file.read_bytes()
    planted = Path(sysconfig.get_paths()["purelib"]) / f"planted_{uuid.uuid4().hex[:8]}.py"
    source = probe(PACKAGE_FILE=str(package_file), PLANTED=str(planted),
                   PLATFORM_SOCKET=str(tmp_path / "none.sock"), PORT=9, WARM_SOCKET=str(tmp_path / "none.sock"))
    result = subprocess.run(["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c",
                             UNPRIVILEGED], input=source, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT), "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert "kafkaml.warm_builder import serve" in seen["cmdline"]
    assert seen["uid_map"] == "65534 1000 1", "the sandbox's uid is the platform user's own"
    no_capability = "0000000000000000"
    assert [seen[key] for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")] == [
        no_capability] * 5 + ["1"]
    assert seen["remount"] == "PermissionError" and seen["userns"] == "OSError"
    assert seen["package"] == "OSError" and package_file.read_bytes() == before  # EROFS: the view, not the uid
    assert seen["virtualenv"] == "OSError" and not planted.exists() and seen["scratch"] == "done"


SESSION = """
from kafkaml.builder import build_isolated
from kafkaml.toydata import TOY_MODEL_SOURCE

def test_build():
    assert build_isolated(TOY_MODEL_SOURCE).parameters == 195
"""


def test_the_test_session_stops_its_warm_builder(tmp_path: Path, runtime: Path) -> None:
    """A pytest session with this suite's fixtures (``tests/conftest.py`` as a plugin) that builds a
    model leaves no warm builder behind: its lock names the process, which must be gone."""
    require_the_sandbox()
    (tmp_path / "session").mkdir()
    (tmp_path / "session" / "test_session.py").write_text(textwrap.dedent(SESSION))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                             "--rootdir", str(tmp_path / "session"), str(tmp_path / "session" / "test_session.py")],
                            capture_output=True, text=True, timeout=600, cwd=PACKAGE_ROOT,
                            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT), "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    locks = list((runtime / f"kafkaml-jobs-{os.getuid()}").glob("builder-*.lock"))
    assert len(locks) == 1, "the session's build went through a warm builder"
    pid = int(locks[0].read_text())
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
             30, f"the warm builder {pid} outlived the test session")
    assert not locks[0].with_suffix(".sock").exists()


def test_stop_all_ends_the_warm_builder_and_the_next_build_starts_one(warm_only: None) -> None:
    build_isolated(TOY_MODEL_SOURCE)
    path = warm_builder.socket_path(builder._clean_env(Path(sandbox.SCRATCH)))
    pid = int(path.with_suffix(".lock").read_text())
    assert pid in warm_builder.stop_all()
    wait_for(lambda: not path.exists(), 10, "the warm builder did not stop")
    assert build_isolated(TOY_MODEL_SOURCE).parameters == 195
    assert int(path.with_suffix(".lock").read_text()) != pid
