"""The local launcher with real processes: a tiny ``python -m`` job runs, succeeds or fails with
its exit code, shows its output, gets its secret as a file, and is stopped by label together
with everything it started; another launcher (even in another process) sees the same jobs."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kafkaml.jobs import (
    LABEL_JOB,
    LABEL_TRAINING,
    JobExists,
    JobSpec,
    JobState,
    JobStatus,
    LocalJob,
    LocalLauncher,
    MissingSecret,
    SecretFile,
)

KEY = "0x" + "11" * 32

TINY_JOB = '''
"""A job for the launcher's tests: says what it sees, may wait, then exits with EXIT_CODE."""
import os, pathlib, subprocess, sys, time

print("started", flush=True)
key_file = os.environ.get("ETH_WALLET_KEY_FILE")
if key_file:
    key = pathlib.Path(key_file).read_text()
    print("key length", len(key), "key in environment", any(key in value for value in os.environ.values()))
print("caller variable inherited", "KAFKAML_TEST_CALLER_ONLY" in os.environ, flush=True)
if os.environ.get("GRANDCHILD"):
    subprocess.Popen(["sleep", "300"])
go_file = os.environ.get("GO_FILE")
while go_file and not pathlib.Path(go_file).exists():
    time.sleep(0.05)
time.sleep(float(os.environ.get("SLEEP", "0")))
busy_until = time.process_time() + float(os.environ.get("BUSY", "0"))
while time.process_time() < busy_until:
    pass
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
'''


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tinyjob.py").write_text(TINY_JOB)
    return tmp_path / "run"


@pytest.fixture
def launcher(run_dir: Path) -> Any:
    launcher = LocalLauncher(run_dir, stop_grace_s=2.0)
    yield launcher
    launcher.stop({LABEL_TRAINING: "t1"})
    launcher.stop({LABEL_TRAINING: "t2"})


def spec(run_dir: Path, name: str, training: str = "t1", **environment: str) -> JobSpec:
    return JobSpec(name=name, role="trainer", owner="tests", training=training, image="kafka-ml/worker:test",
                   module="tinyjob", environment={"PYTHONPATH": str(run_dir.parent / "code"), **environment})


def wait_for(launcher: LocalLauncher, selector: dict[str, str], done: Callable[[list[JobStatus]], bool],
             timeout_s: float = 30.0) -> list[JobStatus]:
    deadline = time.monotonic() + timeout_s
    while not done(statuses := launcher.status(selector)):
        assert time.monotonic() < deadline, f"jobs still {statuses}"
        time.sleep(0.05)
    return statuses


def finished(statuses: list[JobStatus]) -> bool:
    return bool(statuses) and all(status.state in (JobState.SUCCEEDED, JobState.FAILED) for status in statuses)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_a_job_runs_then_succeeds_with_its_output(launcher: LocalLauncher, run_dir: Path) -> None:
    go_file = run_dir.parent / "go"
    handle = launcher.launch(spec(run_dir, "ok", GO_FILE=str(go_file)))
    (running,) = wait_for(launcher, handle.selector, lambda statuses: "started" in launcher.logs(handle.selector)["ok"])
    assert running.state is JobState.RUNNING and running.started_at is not None and running.exit_code is None
    go_file.touch()
    (done,) = wait_for(launcher, handle.selector, finished)
    assert (done.state, done.exit_code, done.reason) == (JobState.SUCCEEDED, 0, "")
    assert done.finished_at >= done.started_at
    assert done.labels[LABEL_JOB] == "ok" and done.labels[LABEL_TRAINING] == "t1"
    assert launcher.logs(handle.selector, tail_lines=1) == {"ok": "caller variable inherited False"}


def test_a_failing_job_is_retried_up_to_its_backoff_limit(launcher: LocalLauncher, run_dir: Path) -> None:
    handle = launcher.launch(replace(spec(run_dir, "fails", EXIT_CODE="3"), backoff_limit=1))
    (failed,) = wait_for(launcher, handle.selector, finished)
    assert (failed.state, failed.exit_code, failed.reason) == (JobState.FAILED, 3, "BackoffLimitExceeded")
    assert launcher.logs(handle.selector)["fails"].count("started") == 2


def test_a_job_past_its_deadline_is_ended(launcher: LocalLauncher, run_dir: Path) -> None:
    handle = launcher.launch(replace(spec(run_dir, "slow", SLEEP="60"), active_deadline_s=1))
    (failed,) = wait_for(launcher, handle.selector, finished)
    assert (failed.state, failed.exit_code, failed.reason) == (JobState.FAILED, 143, "DeadlineExceeded")


def test_stop_by_label_ends_the_whole_process_group(launcher: LocalLauncher, run_dir: Path) -> None:
    launcher.launch(spec(run_dir, "sleeper", GRANDCHILD="1", SLEEP="300"))
    launcher.launch(spec(run_dir, "bystander", training="t2", SLEEP="300"))
    wait_for(launcher, {}, lambda statuses: all("started" in text for text in launcher.logs({}).values()))
    pgid = json.loads((run_dir / "jobs" / "sleeper" / "process.json").read_text())["pid"]
    assert len(group_members(pgid)) == 3  # supervisor, job, its own child
    assert launcher.stop({LABEL_TRAINING: "t1"}) == ["sleeper"]
    assert group_members(pgid) == []
    assert [status.name for status in launcher.status({})] == ["bystander"]
    assert launcher.status({})[0].state is JobState.RUNNING
    with pytest.raises(ValueError, match="empty selector"):
        launcher.stop({})


def test_another_launcher_on_the_run_dir_sees_and_stops_the_same_jobs(launcher: LocalLauncher, run_dir: Path) -> None:
    launcher.launch(spec(run_dir, "passes"))
    launcher.launch(spec(run_dir, "breaks", EXIT_CODE="4"))
    wait_for(launcher, {}, finished)
    launcher.launch(spec(run_dir, "sleeper", SLEEP="300"))
    # A restarted backend is another process: it is not the jobs' parent, yet it reads their outcome.
    script = ("import json, sys; from kafkaml.jobs import LocalLauncher; "
              "print(json.dumps([[s.name, s.state, s.exit_code] for s in LocalLauncher(sys.argv[1]).status({})]))")
    seen = subprocess.run([sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, check=True)
    assert json.loads(seen.stdout) == [["breaks", "failed", 4], ["passes", "succeeded", 0], ["sleeper", "running", None]]
    other = LocalLauncher(run_dir)
    assert other.logs({LABEL_JOB: "passes"}) == {"passes": "started\ncaller variable inherited False"}
    assert other.stop({LABEL_JOB: "sleeper"}) == ["sleeper"]
    assert [status.name for status in launcher.status({})] == ["breaks", "passes"]


def test_a_secret_is_a_file_never_an_environment_value(launcher: LocalLauncher, run_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAML_TEST_CALLER_ONLY", "the backend's own setting")
    wallet = SecretFile("wallet-client-1", "key", "/var/run/secrets/kafka-ml/wallet/key")
    keyed = replace(spec(run_dir, "keyed"), secret_files={"ETH_WALLET_KEY": wallet})
    with pytest.raises(MissingSecret, match="wallet-client-1"):
        launcher.launch(keyed)
    assert launcher.status({}) == []
    key_file = run_dir / "secrets" / "wallet-client-1" / "key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(KEY)
    handle = launcher.launch(keyed)
    wait_for(launcher, handle.selector, finished)
    output = launcher.logs(handle.selector)["keyed"]
    assert "key length 66 key in environment False" in output
    assert "caller variable inherited False" in output
    with pytest.raises(JobExists):
        launcher.launch(keyed)


def test_a_program_that_cannot_start_fails_with_127(launcher: LocalLauncher, run_dir: Path) -> None:
    handle = launcher.launch(replace(spec(run_dir, "missing"), module="", command=("no-such-program-kml",)))
    (failed,) = wait_for(launcher, handle.selector, finished)
    assert (failed.state, failed.exit_code) == (JobState.FAILED, 127)
    assert "cannot start no-such-program-kml" in launcher.logs(handle.selector)["missing"]


def test_put_secret_writes_private_files_a_job_reads_and_delete_removes_them(tmp_path: Path) -> None:
    launcher = LocalLauncher(tmp_path / "run")
    launcher.put_secret("training-9", {"key": b"s3cret"}, {"kafka-ml/training": "9"})
    path = tmp_path / "run" / "secrets" / "training-9" / "key"
    assert path.read_bytes() == b"s3cret" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    launcher.put_secret("training-9", {"key": b"replaced"}, {})
    assert path.read_bytes() == b"replaced"
    with pytest.raises(ValueError):
        launcher.put_secret("Not_A_Name", {"key": b"x"}, {})
    launcher.delete_secret("training-9")
    assert not path.parent.exists()


def test_a_local_job_handle_follows_its_job_and_reports_its_processor_time(launcher: LocalLauncher,
                                                                           run_dir: Path) -> None:
    """What kafkaml train and the benchmarks read of a job they started: its exit code, its log,
    a restart under a new name, and its processor seconds (it is not their child: a fork of the
    warm process, so only its supervisor can count them)."""
    job = LocalJob(launcher, spec(run_dir, "busy", BUSY="0.4", EXIT_CODE="3")).start()
    assert job.wait(timeout_s=60) == 3 and "started" in job.log_tail()
    assert 0.35 <= job.cpu_seconds() < 5
    again = job.again("busy-again", {**job.environment, "BUSY": "0", "EXIT_CODE": "0"}).start()
    assert again.wait(timeout_s=60) == 0 and again.cpu_seconds() < 0.35
    assert job.exit_code() == 3  # the first run stays readable under its own name


def test_a_service_runs_one_process_group_per_replica_all_or_none(launcher: LocalLauncher, run_dir: Path) -> None:
    """A long-running service's replicas are jobs of their own, selected together by the job's
    label; a launch that cannot start every replica leaves none running."""
    handle = launcher.launch(replace(spec(run_dir, "serve", SLEEP="300"), role="inference", replicas=2))
    statuses = wait_for(launcher, handle.selector, lambda statuses: all(
        "started" in text for text in launcher.logs(handle.selector).values()) and len(statuses) == 2)
    assert [(status.name, status.state, status.labels["kafka-ml/replica"]) for status in statuses] == [
        ("serve-0", JobState.RUNNING, "0"), ("serve-1", JobState.RUNNING, "1")]
    assert {status.labels[LABEL_JOB] for status in statuses} == {"serve"}
    described = json.loads((run_dir / "jobs" / "serve-1" / "job.json").read_text())
    assert described["environment"] == {"PYTHONPATH": str(run_dir.parent / "code"), "SLEEP": "300"}
    pids = [json.loads((run_dir / "jobs" / name / "process.json").read_text())["pid"] for name in ("serve-0", "serve-1")]
    assert len(set(pids)) == 2
    with pytest.raises(JobExists):
        launcher.launch(replace(spec(run_dir, "serve", SLEEP="300"), role="inference", replicas=3))
    assert launcher.stop(handle.selector) == ["serve-0", "serve-1"]
    assert all(group_members(pid) == [] for pid in pids)
    # The second replica's name is taken by a job: the first, started already, is stopped again.
    launcher.launch(spec(run_dir, "busy-1", SLEEP="300"))
    with pytest.raises(JobExists):
        launcher.launch(replace(spec(run_dir, "busy", SLEEP="300"), role="inference", replicas=2))
    assert [status.name for status in launcher.status({})] == ["busy-1"]
