"""The Docker launcher against a real engine: podman's Docker-compatible service (`podman system
service`), running the worker image as the launcher runs a job on a single host: non-root, a
read-only root with a scratch /tmp, its secret file readable by the job alone, its settings, its
labels for status, logs and stop, the deadline and the retries the engine has no notion of."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from kafkaml.jobs import JobExists, JobSpec, JobState, Role, SecretFile
from kafkaml.jobs.docker_launcher import STAGED, DockerLauncher
from tests.containers.pods import CONTAINERS_CONF, podman

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: As `make images` tags it (a name the engine resolves without a registry).
WORKER_IMAGE = "localhost/kafka-ml/worker:0.1.0"

PROBE = """
import os, pathlib, sys
print("token=" + pathlib.Path(os.environ["TOKEN_FILE"]).read_text())
print("greeting=" + os.environ["GREETING"], "uid=%d" % os.getuid())
try:
    pathlib.Path("/etc/planted").write_text("x")
    print("root writable")
except OSError:
    print("root read-only")
pathlib.Path("/tmp/scratch").write_text("x")
print("tmp writable")
sys.exit(3)
"""


@pytest.fixture(scope="module")
def launcher(images: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerLauncher]:
    """One engine and network for the file's tests (their jobs have names, hence labels, of their
    own, so neither sees the other's), emptied afterwards."""
    import docker

    tmp_path = tmp_path_factory.mktemp("launcher")
    socket = tmp_path / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    network = f"kml-launcher-{uuid.uuid4().hex[:8]}"
    podman("network", "create", network)
    try:
        deadline = time.monotonic() + 60
        while not socket.exists():
            assert time.monotonic() < deadline and service.poll() is None, "podman's service did not start"
            time.sleep(0.2)
        yield DockerLauncher(docker.DockerClient(base_url=f"unix://{socket}"), network, tmp_path / "secrets",
                             stop_grace_s=1)
    finally:
        for name in podman("ps", "--all", "--format", "{{.Names}}", "--filter", f"network={network}").stdout.split():
            podman("rm", "--force", name, check=False)
        podman("network", "rm", "--force", network, check=False)
        service.terminate()
        service.wait(timeout=30)


def job(images: dict, name: str, code: str, **changes) -> JobSpec:
    return JobSpec(name=name, role=Role.AUDIT, owner="tests", training=name, image=WORKER_IMAGE,
                   command=("python", "-c", code), **changes)


def wait_for(launcher: DockerLauncher, name: str, states: set[JobState], timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while True:
        (status,) = launcher.status({"kafka-ml/job": name})
        if status.state in states or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def test_a_job_runs_as_its_pod_would_and_is_found_by_its_labels(images: dict, launcher: DockerLauncher) -> None:
    launcher.put_secret("probe-secret", {"token": b"s3cret"}, {"kafka-ml/training": "probe"})
    spec = job(images, "probe", PROBE, environment={"GREETING": "hello"},
               secret_files={"TOKEN": SecretFile("probe-secret", "token", "/var/run/kafka-ml/token/token")})
    launcher.launch(spec)
    with pytest.raises(JobExists):
        launcher.launch(spec)
    status = wait_for(launcher, "probe", {JobState.SUCCEEDED, JobState.FAILED})
    log = launcher.logs({"kafka-ml/training": "probe"})["probe"]
    assert (status.state, status.exit_code) == (JobState.FAILED, 3), log
    assert "token=s3cret" in log and "greeting=hello uid=10001" in log, log
    assert "root read-only" in log and "tmp writable" in log, log
    assert status.started_at is not None and status.finished_at is not None
    assert launcher.status({"kafka-ml/training": "another"}) == []
    assert (launcher.secrets.directory / STAGED / "probe").is_dir()
    assert launcher.stop({"kafka-ml/training": "probe"}) == ["probe"]
    assert launcher.status({"kafka-ml/training": "probe"}) == []
    assert not (launcher.secrets.directory / STAGED / "probe").exists()
    assert launcher.read_secret("probe-secret", "token") == b"s3cret"  # the Secret itself stays


def test_success_the_deadline_and_the_retries(images: dict, launcher: DockerLauncher) -> None:
    launcher.launch(job(images, "quick", "print('done')"))
    launcher.launch(job(images, "late", "import time; time.sleep(120)", active_deadline_s=2))
    launcher.launch(job(images, "retried", "import sys; print('attempt'); sys.exit(1)", backoff_limit=1))
    assert wait_for(launcher, "quick", {JobState.SUCCEEDED, JobState.FAILED}).state == JobState.SUCCEEDED
    time.sleep(3)
    late = wait_for(launcher, "late", {JobState.FAILED}, timeout_s=30)
    assert (late.state, late.reason) == (JobState.FAILED, "DeadlineExceeded")
    retried = wait_for(launcher, "retried", {JobState.FAILED}, timeout_s=60)
    assert (retried.state, retried.exit_code, retried.reason) == (JobState.FAILED, 1, "BackoffLimitExceeded")
    assert launcher.logs({"kafka-ml/job": "retried"})["retried"].count("attempt") == 2
    assert launcher.stop({"kafka-ml/training": "nothing-here"}) == []
    with pytest.raises(ValueError, match="empty selector"):
        launcher.stop({})
