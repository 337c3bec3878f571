"""Local jobs forked from the warm process: what a job sees is what a fresh ``python -m`` would
give it (import path, this project's code, environment, randomness), jobs outlive the warm
process, a bad request is refused without stopping it, and it exits when idle."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kafkaml import processes
from kafkaml.jobs import LABEL_JOB, JobSpec, JobState, LocalLauncher, warm_start
from kafkaml.jobs.local import base_environment

PROBE = '''
"""Says what a job's interpreter looks like, as JSON on one line."""
import json, os, sys
import numpy
import kafkaml
environ = open("/proc/self/environ", "rb").read()
print(json.dumps({
    "path": sys.path[:2], "cwd": os.getcwd(), "argv": sys.argv, "kafkaml": kafkaml.__file__,
    "random": numpy.random.random(), "tensorflow_warm": "tensorflow" in sys.modules,
    "caller_variable": "KAFKAML_TEST_CALLER_ONLY" in os.environ or b"KAFKAML_TEST_CALLER_ONLY" in environ,
}), flush=True)
'''

SLEEPER = 'import time\nprint("started", flush=True)\ntime.sleep(300)\n'


@pytest.fixture
def code(tmp_path: Path) -> Path:
    """A directory on the jobs' PYTHONPATH with the probe, a sleeper, and a stand-in ``kafkaml``."""
    directory = tmp_path / "code"
    (directory / "kafkaml").mkdir(parents=True)
    (directory / "kafkaml" / "__init__.py").write_text('"""A stand-in: the job must import this copy."""\n')
    (directory / "probe.py").write_text(PROBE)
    (directory / "sleeper.py").write_text(SLEEPER)
    return directory


def spec(name: str, module: str, code: Path) -> JobSpec:
    return JobSpec(name=name, role="trainer", training="t1", owner="tests", image="kafka-ml/worker:test",
                   module=module, environment={"PYTHONPATH": str(code)})


def wait_until(predicate, timeout_s: float = 120.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def finished(launcher: LocalLauncher, name: str) -> bool:
    (status,) = launcher.status({LABEL_JOB: name})
    return status.state in (JobState.SUCCEEDED, JobState.FAILED)


def test_a_job_sees_what_a_fresh_interpreter_would(tmp_path: Path, code: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAML_TEST_CALLER_ONLY", "the backend's own setting")
    monkeypatch.chdir(tmp_path)  # where this project's checkout is not first on the path
    launcher = LocalLauncher(tmp_path / "run")
    for name in ("probe-1", "probe-2"):
        launcher.launch(spec(name, "probe", code))
    wait_until(lambda: finished(launcher, "probe-1") and finished(launcher, "probe-2"), what="the probes")
    seen = [json.loads(launcher.logs({LABEL_JOB: name})[name].splitlines()[-1]) for name in ("probe-1", "probe-2")]
    for probe in seen:
        assert probe["tensorflow_warm"], "the job was not forked from the warm process"
        assert probe["path"] == [str(tmp_path), str(code)]  # as `python -m` computes it, PYTHONPATH next
        assert probe["cwd"] == str(tmp_path)
        assert probe["argv"] == [str(code / "probe.py")]
        assert probe["kafkaml"] == str(code / "kafkaml" / "__init__.py")  # its own copy, not the warm one
        assert probe["caller_variable"] is False  # neither in its environment nor in its memory's
    assert seen[0]["random"] != seen[1]["random"]  # NumPy reseeded in every fork


IMPORTS_PROBE = '''
"""Prints the third-party packages a training job's code imports that the warm process had not."""
import json, sys
before = set(sys.modules)
import training_worker.aggregator, training_worker.trainer
import training_worker.coordination.chain, training_worker.coordination.classic
own = {"kafkaml", "training_worker", "imports_probe"}
print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - before} - own)), flush=True)
'''


def test_a_training_job_imports_no_third_party_library_anew(tmp_path: Path) -> None:
    """Every library a job imports anew costs each job of every training its import time (py-solc-x,
    needed by no job, cost a blockchain job 16 ms of processor time): the warm process has them."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "imports_probe.py").write_text(IMPORTS_PROBE)
    repository = Path(__file__).resolve().parents[2]
    launcher = LocalLauncher(tmp_path / "run")
    launcher.launch(JobSpec(name="imports", role="trainer", training="t1", owner="tests", image="kafka-ml/worker:test",
                            module="imports_probe", environment={"PYTHONPATH": f"{probe}:{repository}"}))
    wait_until(lambda: finished(launcher, "imports"), what="the probe")
    output = launcher.logs({LABEL_JOB: "imports"})["imports"]
    assert launcher.status({LABEL_JOB: "imports"})[0].state is JobState.SUCCEEDED, output
    assert json.loads(output.splitlines()[-1]) == [], f"imported anew in every job: {output.splitlines()[-1]}"


def test_jobs_outlive_the_warm_process_and_the_next_launch_starts_another(tmp_path: Path, code: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # another base environment: a warm process of this test's own
    launcher = LocalLauncher(tmp_path / "run")
    launcher.launch(spec("sleeper", "sleeper", code))
    wait_until(lambda: "started" in launcher.logs({LABEL_JOB: "sleeper"})["sleeper"], what="the sleeper")
    log = warm_start.socket_path(base_environment()).with_suffix(".log")
    first = int(log.read_text().split("warm job starter ")[1].split()[0])
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not processes.is_running(first), what="the warm process's end")
    assert launcher.status({LABEL_JOB: "sleeper"})[0].state is JobState.RUNNING
    launcher.launch(spec("probe", "probe", code))
    wait_until(lambda: finished(launcher, "probe"), what="the probe")
    assert launcher.status({LABEL_JOB: "probe"})[0].state is JobState.SUCCEEDED
    second = int(log.read_text().rsplit("warm job starter ", 1)[1].split()[0])
    assert second != first
    assert launcher.stop({LABEL_JOB: "sleeper"}) == ["sleeper"]
    os.kill(second, signal.SIGTERM)


def test_stop_all_ends_the_warm_processes_after_their_current_request_and_spares_the_jobs(
        tmp_path: Path, code: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # a warm process of this test's own
    launcher = LocalLauncher(tmp_path / "run")
    launcher.launch(spec("sleeper", "sleeper", code))
    wait_until(lambda: "started" in launcher.logs({LABEL_JOB: "sleeper"})["sleeper"], what="the sleeper")
    log = warm_start.socket_path(base_environment()).with_suffix(".log")
    warm = int(log.read_text().split("warm job starter ")[1].split()[0])
    assert warm in warm_start.stop_all()
    wait_until(lambda: not processes.is_running(warm), timeout_s=30, what="the warm process's end")
    assert f"warm job starter {warm} asked to stop: exiting" in log.read_text()
    assert not warm_start.socket_path(base_environment()).exists()
    assert launcher.status({LABEL_JOB: "sleeper"})[0].state is JobState.RUNNING
    assert launcher.stop({LABEL_JOB: "sleeper"}) == ["sleeper"]


def test_a_bad_request_is_refused_and_the_warm_process_keeps_serving(tmp_path: Path, code: Path) -> None:
    launcher = LocalLauncher(tmp_path / "run")
    launcher.launch(spec("before", "probe", code))  # makes sure a warm process listens
    path = warm_start.socket_path(base_environment())

    def ask(payload: bytes) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(30)
            connection.connect(str(path))
            connection.sendall(payload)
            return json.loads(connection.makefile("rb").readline())

    assert "at most" in ask(b"x" * (warm_start.REQUEST_LIMIT + 10))["error"]
    assert "absolute path" in ask(json.dumps({"job_file": "job.json", "exit_file": "/x", "log_file": "/y",
                                              "cwd": "/", "environment": {}}).encode() + b"\n")["error"]
    assert "environment" in ask(json.dumps({"job_file": "/a", "exit_file": "/b", "log_file": "/c", "cwd": "/",
                                            "environment": {"A": 1}}).encode() + b"\n")["error"]
    launcher.launch(spec("after", "probe", code))
    wait_until(lambda: finished(launcher, "before") and finished(launcher, "after"), what="the probes")
    assert [status.state for status in launcher.status({})] == [JobState.SUCCEEDED, JobState.SUCCEEDED]


def test_the_warm_process_exits_when_idle(tmp_path: Path) -> None:
    base = {**base_environment(), "KAFKAML_WARM_IDLE_S": "1"}
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"argv": ["true"], "active_deadline_s": None, "backoff_limit": 0}))
    supervisor = warm_start.start_supervisor(job_file=job_file, exit_file=tmp_path / "exit.json",
                                             log_file=tmp_path / "output.log", environment={"PATH": os.environ["PATH"]},
                                             base_environment=base)
    path = warm_start.socket_path(base)
    warm = int(path.with_suffix(".log").read_text().rsplit("warm job starter ", 1)[1].split()[0])
    wait_until(lambda: (tmp_path / "exit.json").exists(), what="the job's end")
    assert json.loads((tmp_path / "exit.json").read_text())["exit_code"] == 0
    wait_until(lambda: not processes.is_running(warm) and not path.exists(), timeout_s=30, what="the idle exit")
    assert not processes.is_running(supervisor)
    assert "idle for 1 s: exiting" in path.with_suffix(".log").read_text()


def test_a_changed_module_of_the_package_gets_a_new_warm_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm process keeps the supervisor it imported: a job launched after the code changed must
    not be served by it, so the socket is named after the code as it is on disk."""
    package = tmp_path / "kafkaml"
    (package / "jobs").mkdir(parents=True)
    module = package / "jobs" / "supervisor.py"
    module.write_text("SUPERVISED = 1\n")
    monkeypatch.setattr(warm_start, "PACKAGE_ROOT", tmp_path)
    environment = {"PATH": "/usr/bin"}
    before = warm_start.socket_path(environment)
    assert warm_start.socket_path(environment) == before  # the same code: the same warm process
    module.write_text("SUPERVISED = 22\n")
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert warm_start.socket_path(environment) != before


def test_stop_all_stops_only_the_warm_processes_of_this_checkout(tmp_path: Path) -> None:
    """Another checkout's warm process (another session's tests, on the same machine and user)
    holds a lock of the same kind; stopping it made that session import TensorFlow again."""
    holder = ("import fcntl, os, sys, time\nlock = open(sys.argv[1], 'a+')\nfcntl.flock(lock, fcntl.LOCK_EX)\n"
              "lock.truncate(0); lock.write(str(os.getpid())); lock.flush()\nprint('held', flush=True)\ntime.sleep(60)\n")
    started = {}
    try:
        for where in ("elsewhere", "here"):
            lock = warm_start.runtime_dir() / f"warm-test-{uuid.uuid4().hex[:8]}.lock"
            cwd = tmp_path if where == "elsewhere" else warm_start.PACKAGE_ROOT
            process = subprocess.Popen([sys.executable, "-c", holder, str(lock)], cwd=cwd, stdout=subprocess.PIPE)
            assert process.stdout.readline().strip() == b"held"
            started[where] = (process, lock)
        stopped = warm_start.stop_all("warm-test-*.lock")
        assert stopped == [started["here"][0].pid]
        assert started["here"][0].wait(timeout=10) == -signal.SIGTERM
        assert started["elsewhere"][0].poll() is None
    finally:
        for process, lock in started.values():
            process.kill()
            process.wait()
            lock.unlink(missing_ok=True)
