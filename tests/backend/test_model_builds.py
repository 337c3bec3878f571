"""Model builds run in the background, bounded, and survive the API process that ran them.

On a backend of its own (its own database, so that its queue and limits are its own): 2 gunicorn
processes of 1 thread each, MODEL_BUILDS_PER_USER=2, MODEL_BUILDS_MAX=4, and slow model sources
(``time.sleep`` at the top: the builder runs it in its sandbox). What must hold:

* with more slow builds in flight than the API has threads, saving a model, ``/api/health/`` and
  ``GET /api/models/`` still answer in under a second (a generous bound: they need milliseconds);
  one build more than a user may have in flight is a 429; the platform never runs more than
  MODEL_BUILDS_MAX builds at once, the others wait in the queue;
* an API process killed mid-build leaves no builder running; the build is started again by
  another process, and failed (not ``building`` for ever) when it is interrupted again;
* in a cluster, where a build is a Job with its Secret, a process killed right after creating
  them leaves both behind only until another process finds the build abandoned: it deletes them
  by the names the dead process wrote down before creating them (a Kubernetes API stand-in whose
  objects outlive the process: no API server runs here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from kafkaml.cli.platform_client import PlatformError, wait_until_built
from kafkaml.local import stack as local
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.backend.conftest import Backend, manage, running_backend
from tests.backend.fake_cluster import CLUSTER_SETUP
from tests.conftest import throwaway_database

WORKERS, THREADS = 2, 1
PER_USER, PLATFORM = 2, 4
FAST_ANSWER_S = 1.0
#: Seconds after which a build's heartbeat is stale (MODEL_BUILD_STALE_S; the heartbeat is renewed
#: every second): the killed process's test waits it out twice, so it is short here.
STALE_S = 6
#: Seconds a slow build sleeps: long enough that all of them are still running after the checks made
#: while they run (about 5 s after the last one started), and several times STALE_S, so that a build
#: started once proves its heartbeat was renewed.
SLOW_BUILD_S = 16
#: Bound on finding an abandoned build (its heartbeat stale) and starting it again.
RECOVERY_S = 75


def slow(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\n" + TOY_MODEL_SOURCE


@pytest.fixture(scope="module")
def builds_backend(local_stack: local.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with throwaway_database() as dsn, running_backend(
            local_stack, dsn, tmp_path_factory.mktemp("builds"), workers=WORKERS, threads=THREADS,
            settings={"MODEL_BUILDS_PER_USER": str(PER_USER), "MODEL_BUILDS_MAX": str(PLATFORM),
                      "MODEL_BUILD_STALE_S": str(STALE_S)}) as running:
        yield running


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def builders(backend: Backend) -> dict[int, int]:
    """The builds running for the backend, each with the API worker process it runs for: a fork of
    the warm builder named ``kbuild-<worker>`` (``kafkaml.warm_builder``), or a fresh builder
    process (``python -m kafkaml.builder``) under the worker."""
    found = {}
    workers = set(_children(backend.pid))
    for entry in Path("/proc").iterdir():
        try:
            comm = (entry / "comm").read_text().strip()
            if not comm.startswith("kbuild-") or int(comm.removeprefix("kbuild-")) not in workers:
                continue
            parent = Path("/proc", (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            # The fork itself, not the sandbox's processes below it (which inherit its name).
            if b"kafkaml.warm_builder" in (parent / "cmdline").read_bytes() and not (
                    parent / "comm").read_text().startswith("kbuild-"):
                found[int(entry.name)] = int(comm.removeprefix("kbuild-"))
        except (OSError, ValueError):
            continue
    for worker in workers:
        pending = _children(worker)
        while pending:
            pid = pending.pop()
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[1:3] == [b"-m", b"kafkaml.builder"]:
                found[pid] = worker
            pending += _children(pid)
    return found


def eventually(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.2)
    return value


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - started


def test_slow_builds_leave_the_api_answering_at_once(builds_backend: Backend) -> None:
    backend = builds_backend
    users = [backend.as_user(f"slow-{index}") for index in (1, 2, 3)]
    models = []
    for user in users[:2]:
        for index in range(PER_USER):
            answer, took = timed(lambda user=user, index=index: user.post(
                f"{backend.url}/api/models/", json={"name": f"slow-{index}", "source": slow(SLOW_BUILD_S)}, timeout=60))
            assert answer.status_code == 201 and answer.json()["status"] == "building", answer.text
            assert took < FAST_ANSWER_S, f"saving a model took {took:.2f} s"
            models.append((user, answer.json()["id"]))
    running = eventually(lambda: len(builders(backend)) == PLATFORM and builders(backend), 90,
                         f"{PLATFORM} builds running")
    assert len(running) > WORKERS * THREADS  # more builds in flight than the API has threads

    for _ in range(5):
        health, took = timed(lambda: requests.get(f"{backend.url}/api/health/", timeout=30))
        assert health.status_code == 200 and took < FAST_ANSWER_S, f"/api/health/ took {took:.2f} s"
        listed, took = timed(lambda: users[0].get(f"{backend.url}/api/models/", timeout=30))
        assert listed.status_code == 200 and took < FAST_ANSWER_S, f"GET /api/models/ took {took:.2f} s"
        assert {model["status"] for model in listed.json()["results"]} == {"building"}
        time.sleep(0.3)

    refused = users[0].post(f"{backend.url}/api/models/", json={"name": "one-more", "source": TOY_MODEL_SOURCE})
    assert refused.status_code == 429 and f"MODEL_BUILDS_PER_USER={PER_USER}" in refused.json()["detail"], refused.text
    # Another user's build waits in the queue: the platform runs MODEL_BUILDS_MAX at most.
    queued = users[2].post(f"{backend.url}/api/models/", json={"name": "queued", "source": TOY_MODEL_SOURCE}).json()
    time.sleep(3)
    assert len(builders(backend)) == PLATFORM
    assert users[2].get(f"{backend.url}/api/models/{queued['id']}/").json()["status"] == "building"

    for user, model in [*models, (users[2], queued["id"])]:
        built = wait_until_built(lambda user=user, model=model: user.get(f"{backend.url}/api/models/{model}/").json(),
                                 timeout_s=240)
        assert built["parameters"] == 195
    # Each build was started once: its process kept its heartbeat alive for longer than a build
    # without one is left to its process (STALE_S).
    attempts = backend.shell("from backend.api.models import MLModel; "
                             "print(sorted(set(MLModel.objects.values_list('build_attempts', flat=True))))")
    assert attempts.split()[-1] == "[1]", attempts


def test_a_killed_api_process_leaves_no_build_running_and_the_build_is_retried_then_failed(
        builds_backend: Backend) -> None:
    backend = builds_backend
    user = backend.as_user("killed")
    model = user.post(f"{backend.url}/api/models/", json={"name": "killed", "source": slow(60)}).json()
    url = f"{backend.url}/api/models/{model['id']}/"
    for attempt in (1, 2):
        (builder, worker), = eventually(lambda: builders(backend), RECOVERY_S,
                                        f"attempt {attempt} of the build running").items()
        os.kill(worker, signal.SIGKILL)  # the API process that runs the build
        eventually(lambda builder=builder: not Path(f"/proc/{builder}").exists(), 10,
                   "the builder gone with its API process")
        assert builders(backend) == {}
        assert user.get(url).json()["status"] == "building"  # until another process finds it abandoned
    with pytest.raises(PlatformError) as failed:
        wait_until_built(lambda: user.get(url).json(), timeout_s=RECOVERY_S)
    assert "interrupted 2 times" in failed.value.body["error"], failed.value.body
    assert builders(backend) == {}


# The API process that builds: it claims the queued build and is killed the moment the builder
# Job exists (what the backend wrote on the row first is checked at each creation).
KILLED_MID_BUILD = CLUSTER_SETUP + """
def created(kind, name):
    row = MLModel.objects.get()
    assert (row.build_secret if kind == "secret" else row.build_job) == name, (kind, name, row.build_job)
    if kind == "job":
        os.kill(os.getpid(), signal.SIGKILL)
jobs.launcher = FileCluster(CLUSTER, created).launcher
user = get_user_model().objects.create_user("cluster-user")
MLModel.objects.create(owner=user, name="toy", source=sys.argv[2])
(pk, attempt, source), = builds.Dispatcher(1).claim(timezone.now(), 0)
builds.build_outcome(pk, attempt, source)
print("not killed")
"""

# Another API process, the heartbeat of that build now older than MODEL_BUILD_STALE_S.
RECOVERY = CLUSTER_SETUP + """
from backend.api.environment import build_limits
jobs.launcher = FileCluster(CLUSTER).launcher
stale = timezone.now() - timedelta(seconds=build_limits().stale_s + 1)
MLModel.objects.update(build_heartbeat=stale, build_attempts=int(sys.argv[2]))
builds.Dispatcher(1).recover(timezone.now(), {})
row = MLModel.objects.values("status", "error", "build_heartbeat", "build_job", "build_secret").get()
print(json.dumps({**row, "build_heartbeat": row["build_heartbeat"] and row["build_heartbeat"].isoformat()}))
"""


def test_a_cluster_build_whose_api_process_died_leaves_no_job_or_secret(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    with throwaway_database() as dsn:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", "DATABASE_URL": dsn,
               "BACKEND_SECRET_KEY": "cluster-test", "KAFKAML_RUN_DIR": str(tmp_path), "JOB_LAUNCHER": "kubernetes"}
        manage(env, "migrate", "--noinput")

        def run(script: str, argument: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-c", script, str(cluster), argument], env=env, capture_output=True,
                                  text=True, timeout=120)

        killed = run(KILLED_MID_BUILD, TOY_MODEL_SOURCE)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        left = json.loads(cluster.read_text())
        (job,) = left["jobs"]
        assert list(left["secrets"]) == [job["metadata"]["name"]] and job["metadata"]["labels"][
            "app.kubernetes.io/component"] == "builder"

        recovered = run(RECOVERY, "1")
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert json.loads(cluster.read_text()) == {"jobs": [], "deployments": [], "pods": [], "secrets": {}}
        assert json.loads(recovered.stdout.splitlines()[-1]) == {
            "status": "building", "error": "", "build_heartbeat": None, "build_job": "", "build_secret": ""}

        gave_up = run(RECOVERY, "2")  # abandoned at its last attempt: failed, not queued again
        assert gave_up.returncode == 0, gave_up.stdout + gave_up.stderr
        row = json.loads(gave_up.stdout.splitlines()[-1])
        assert row["status"] == "failed" and "interrupted 2 times" in row["error"], row
