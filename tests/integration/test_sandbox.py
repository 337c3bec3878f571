"""The builder's sandbox on its own (``python -m kafkaml.sandbox``), without TensorFlow: what a
caller holds stays out of it, an unprivileged platform user's files stay unwritable, and a
sandbox that cannot be set up runs nothing and says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import kafkaml
from kafkaml.sandbox import SETUP_FAILED
from tests.conftest import require_the_sandbox

#: Joins a session keyring of its own, adds a key to it, finds it, then runs the same search in
#: the sandbox: the caller's keys must not be found there (``keyctl`` and ``add_key`` by number).
KEYRING_CHECK = """
import ctypes, platform, subprocess, sys
add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
SESSION, JOIN, SEARCH = -3, 1, 10
assert libc.syscall(keyctl, JOIN, b"kafkaml-test-session") > 0
assert libc.syscall(add_key, b"user", b"platform-secret", b"s3cret", 6, SESSION) > 0
search = ("import ctypes, sys; libc = ctypes.CDLL(None); "
          f"print('found' if libc.syscall({keyctl}, {SEARCH}, {SESSION}, b'user', b'platform-secret', 0) > 0 "
          "else 'not found')")
print("caller:", subprocess.run([sys.executable, "-c", search], capture_output=True, text=True).stdout.strip())
sandboxed = subprocess.run([sys.executable, "-m", "kafkaml.sandbox", "--", sys.executable, "-c", search],
                           capture_output=True, text=True)
print("sandbox:", sandboxed.stdout.strip() or sandboxed.stderr.strip())
"""


def test_the_callers_session_keyring_stays_outside(tmp_path: Path) -> None:
    require_the_sandbox()
    result = subprocess.run([sys.executable, "-c", KEYRING_CHECK], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(kafkaml.__file__).parents[1])})
    assert result.stdout.splitlines() == ["caller: found", "sandbox: not found"], result.stdout + result.stderr


def test_a_sandbox_that_cannot_be_set_up_runs_nothing_and_says_why(tmp_path: Path) -> None:
    """Its view would be mounted over its working directory: one inside the view is refused."""
    require_the_sandbox()
    marker = tmp_path / "ran"
    inside_the_view = Path(kafkaml.__file__).resolve().parent
    result = subprocess.run([sys.executable, "-m", "kafkaml.sandbox", "--", "touch", str(marker)],
                            capture_output=True, text=True, timeout=120, cwd=inside_the_view)
    assert result.returncode == SETUP_FAILED and not marker.exists()
    assert f"kafkaml sandbox: the working directory {inside_the_view} must lie outside the view" in result.stderr


#: Run in the sandbox: what a planted backdoor would try, reported one line each.
WRITE_CHECK = """
import os, sys
for path in sys.argv[1:]:
    try:
        open(path, "a").close()
        print("written", path)
    except OSError as exc:
        print(exc.strerror, path)
os.mkdir("scratch-works")
print(open("/proc/self/uid_map").read().split())
"""


def test_as_an_unprivileged_platform_user_the_read_only_view_keeps_its_files(tmp_path: Path) -> None:
    """An unprivileged user can map only its own uid: the sandboxed code keeps its kernel uid, which
    owns the package and the virtualenv. Simulated by a user namespace in which the test is uid 1000
    (the kernel still sees the test's own uid): the files stay unwritable because the view is read-only."""
    require_the_sandbox()
    package_file = str(Path(kafkaml.__file__).resolve())
    planted = str(Path(sysconfig.get_paths()["purelib"]) / "planted_by_test.py")
    command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-m", "kafkaml.sandbox",
               "--", sys.executable, "-c", WRITE_CHECK, package_file, planted]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(Path(kafkaml.__file__).parents[1])})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"Read-only file system {package_file}", f"Read-only file system {planted}",
                                          "['65534', '1000', '1']"], result.stdout
    assert not Path(planted).exists()


#: Leaves the caller's process group and clears its parent-death signal, then waits.
ESCAPING = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)
os.setsid()
libc.prctl(1, 0, 0, 0, 0)
time.sleep(1000)
"""


def test_code_that_leaves_the_process_group_dies_with_the_sandbox(tmp_path: Path) -> None:
    """A caller's timeout kills the sandbox's process group; sandboxed code that left the group and
    cleared its parent-death signal still ends, with its PID namespace (whose first process the
    sandbox's helper kills when the caller dies)."""
    require_the_sandbox()
    name = f"kmesc{os.getpid() % 100000}"

    def running() -> bool:
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                    return True
            except OSError:  # it ended meanwhile
                continue
        return False

    sandbox = subprocess.Popen([sys.executable, "-m", "kafkaml.sandbox", "--", sys.executable, "-c", ESCAPING, name],
                               cwd=tmp_path, start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(Path(kafkaml.__file__).parents[1])})
    deadline = time.monotonic() + 60
    while not running():
        assert time.monotonic() < deadline and sandbox.poll() is None, "the sandboxed code never ran"
        time.sleep(0.1)
    os.killpg(sandbox.pid, signal.SIGKILL)  # what a caller's timeout does
    sandbox.wait()
    deadline = time.monotonic() + 10
    while running():
        assert time.monotonic() < deadline, "the sandboxed code outlived its sandbox"
        time.sleep(0.1)
