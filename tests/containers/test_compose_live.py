"""The single-host platform run with podman-compose (docs/deploy-compose.md), brought up once for
this file (pytest-xdist's `--dist loadfile` runs a file whole on one process, so a module fixture
is made once; a fixture shared by two files would be made twice): compose.yaml with
compose.jobs.yaml from the images `make images` and `make infra-images` build, on podman's
Docker-compatible service as the engine jobs are launched on. The rendered files are checked
beside the manifests in test_compose.py (the platform's) and test_compose_client.py (a client's).

Its tests run in ``ORDER`` on the one platform, and each leaves it as the next needs it:

1. the platform as `up` left it: the secrets' owners and modes, migrations first, a healthy API
   through the UI's nginx, the UI's app, the one-shot services finished, the logger and the parts
   running, the backend's container restricted, and a job launched from inside the backend's
   container through the engine's socket, on the project's network, removed afterwards;
2. a whole blockchain training: two clients' projects from compose.client.yaml, each with its
   own project name and id, join it; the aggregator, the model build, each client's trainer and
   the audit are containers the backends launch through the engine's socket; the training is
   driven through the platform's REST API as `kafkaml demo` drives it, and the recompute audit,
   started through the API, passes.

Then every project is taken down, and nothing of it is left. Run here with podman-compose 1.6.0
on podman 4.3 (rootful); what that version pair needs of compose.yaml is in test_compose.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kafkaml.local import services_run
from kafkaml.workloads import make_workload
from tests.containers import infra, pods

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

#: The tests of this file in the order they run on the one platform: the platform's checks see it
#: as `up` left it (the training adds an administrator, a chain, clients and jobs).
ORDER = ("test_the_platform_comes_up_with_podman_compose",
         "test_a_blockchain_training_through_compose_with_two_clients")
#: A job as the platform launches one, run from inside the backend's container: it reads its secret
#: file and reaches the backend by its service name on the project's network.
JOB_PROBE = """
import os, sys, time
from pathlib import Path
from kafkaml.jobs import JobSpec, JobState, Role, SecretFile
from kafkaml.jobs.factory import launcher_from_settings
launcher = launcher_from_settings("docker", Path(os.environ["KAFKAML_RUN_DIR"]) / "platform-jobs")
name = sys.argv[1]
launcher.put_secret(name, {"token": b"probe-token"}, {"kafka-ml/job": name})
code = ("import os, urllib.request as u; print(open(os.environ['TOKEN_FILE']).read(), os.getuid()); "
        # 60 s: on 2 cores under the whole suite, the backend's container has answered later than 10 s
        "r = u.urlopen(u.Request('http://backend:8000/api/health/', headers={'Host': 'backend'}), timeout=60); "
        "print(r.status, r.read().decode())")
launcher.launch(JobSpec(name=name, role=Role.AUDIT, owner="compose-test", training=name, image=os.environ["JOB_IMAGE"],
                        command=("python", "-c", code),
                        secret_files={"TOKEN": SecretFile(name, "token", "/var/run/kafka-ml/token/token")}))
for _ in range(180):
    (status,) = launcher.status({"kafka-ml/job": name})
    if status.state in (JobState.SUCCEEDED, JobState.FAILED):
        break
    time.sleep(1)
print(status.state.value, status.exit_code)
print(launcher.logs({"kafka-ml/job": name})[name])
launcher.stop({"kafka-ml/job": name})
launcher.delete_secret(name)
"""
#: The training: the toy workload, as `kafkaml train` makes it (name, clients, samples, seed, split).
WORKLOAD = ("toy", 2, 600, 1, "random-split")
ROUNDS = 3


@dataclass
class Live:
    """The running platform, when `up` began and how long it took to a healthy API, and the tests
    that have used it so far."""

    deployment: infra.Deployment
    started: float
    healthy_s: float
    ran: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(images: dict, infra_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The platform up (`up` fails the file's tests with podman-compose's output when it fails), taken
    down with every client's project after the file's last test."""
    with infra.deployment(tmp_path_factory.mktemp("compose")) as deployment:
        started = time.monotonic()
        healthy_s = deployment.up()
        yield Live(deployment, started, healthy_s)


@pytest.fixture
def platform(live: Live, request: pytest.FixtureRequest) -> infra.Deployment:
    """The shared platform, for a test named in ``ORDER`` after every test that has used it before
    (a test run out of order would check a platform another test has changed)."""
    name = request.node.name
    assert name in ORDER, f"{name} uses the shared platform: give it its place in ORDER"
    later = [ran for ran in live.ran if ORDER.index(ran) > ORDER.index(name)]
    assert not later, f"{name} must run on the shared platform before {later} (ORDER), not after them"
    live.ran.append(name)
    return live.deployment


def test_the_platform_comes_up_with_podman_compose(live: Live, platform: infra.Deployment,
                                                   infra_images: dict[str, str]) -> None:
    for tag in infra_images.values():
        assert infra.images_module().image_exists(tag), tag
    state = platform.work / "platform"
    for secret in ("backend-secret-key", "eth-admin-key", "logger-token", "database-url"):
        stat = (state / "secrets" / secret).stat()
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (0, 10001, 0o440), secret
    password = (state / "secrets" / "postgres-password").read_text().strip()
    assert password in (state / "secrets" / "database-url").read_text()
    status, headers, page = pods.http(f"{platform.url}/trainings", timeout_s=30)
    assert status == 200 and b'<div id="root">' in page and "text/html" in headers.get("Content-Type", ""), page[:300]
    by_service = platform.containers()
    for one_shot in ("backend-init", "fund"):
        finished = infra.one_shot_finished(by_service[one_shot])
        assert finished == ["exited", "0"], f"{one_shot}: {finished}\n{pods.logs(by_service[one_shot])}"
    init_log = pods.logs(by_service["backend-init"])
    assert "Apply all migrations" in init_log and "has the token of" in init_log, init_log
    for service in ("kafka", "chain", "postgres", "backend", "ui", "data-control-logger"):
        pods.wait_running(by_service[service], 5)
    inspected = json.loads(pods.podman("inspect", by_service["backend"]).stdout)[0]
    assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert not inspected["EffectiveCaps"], inspected["EffectiveCaps"]

    # A job through the engine's socket, from inside the backend's container.
    job = f"{platform.project}-probe"
    probe = pods.podman("exec", by_service["backend"], "python", "-c", JOB_PROBE, job, check=False, timeout=300)
    assert probe.returncode == 0, f"{probe.stdout[-2000:]}\n{probe.stderr[-3000:]}"
    state_line, output = probe.stdout.split("\n", 1)
    assert state_line == "succeeded 0", probe.stdout
    assert "probe-token 10001" in output and '200 {"status":"ok"' in output, output
    # Stopped, the job is gone: the training's checks of its jobs see its own alone.
    assert not job_containers(platform.network), list(job_containers(platform.network))
    print(f"\nthe platform with podman-compose, from `up` to a healthy API through the UI: {live.healthy_s:.1f} s; "
          f"with a job run through the engine's socket: {time.monotonic() - live.started:.1f} s")


def test_a_blockchain_training_through_compose_with_two_clients(platform: infra.Deployment) -> None:
    started = time.monotonic()
    workload = make_workload(*WORKLOAD)
    api = platform.admin()
    chain = api.post(f"{platform.url}/api/chain/", timeout=120)
    assert chain.ok, chain.text
    token = chain.json()["token"]
    addresses = []
    for client in ("vehicle-1", "vehicle-2"):
        addresses.append(platform.add_client(client, token))
        platform.fund(addresses[-1], 10)
    platform.publish(WORKLOAD, "compose")
    run = services_run.deploy(api, platform.url, workload, addresses, name="compose", data="compose",
                              mode="blockchain", rounds=ROUNDS, epochs=1, batch=32, strategy="fedavg",
                              # A round of both clients' updates: one at a time, a client whose
                              # container started late could find every round taken by the other.
                              strategy_params={"updates": 2})
    rounds: list[dict] = []
    try:
        final = services_run.follow(run, 900, rounds.append)
    except services_run.ServicesRunFailed as exc:
        raise AssertionError(f"{exc}\n{job_logs(platform)}") from None
    assert final["status"] == "finished" and [r["version"] for r in rounds] == list(range(1, ROUNDS + 1))
    contributors = {c["client"].lower() for r in rounds for c in r["contributions"]}
    assert contributors == {address.lower() for address in addresses}, f"{contributors} for {addresses}"

    # Every job ran as a restricted container of the worker image on the platform's network,
    # each client's trainer under a name carrying its id.
    jobs = job_containers(platform.network)
    trainers = [name for name in jobs if name.startswith("trainer-")]
    assert {name.split("-", 2)[2] for name in trainers} == {"vehicle-1", "vehicle-2"}, list(jobs)
    for name, inspected in jobs.items():
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"], name
        assert not inspected["EffectiveCaps"] and inspected["ImageName"] == infra.worker_tag(), name

    audit = services_run.audit(run, 600)
    assert audit["status"] == "passed", f"{audit}\n{job_logs(platform)}"
    assert [c["version"] for c in audit["report"]["checks"]] == list(range(1, ROUNDS + 1))
    assert all(c["ok"] and c["recomputed"] == c["recorded"] for c in audit["report"]["checks"])
    print(f"\nthe training ({ROUNDS} rounds, two clients' compose projects) and its audit passed, "
          f"from the administrator's session: {time.monotonic() - started:.1f} s")


def job_containers(network: str) -> dict[str, dict]:
    """The jobs' containers on the deployment's network, inspected, by name."""
    names = pods.podman("ps", "--all", "--filter", "label=kafka-ml/job", "--filter", f"network={network}",
                        "--format", "{{.Names}}").stdout.split()
    return {name: json.loads(pods.podman("inspect", name).stdout)[0] for name in names}


def job_logs(deployment: infra.Deployment) -> str:
    """The end of every job's and every backend's output, for a failure's message."""
    names = [*job_containers(deployment.network), deployment.containers()["backend"],
             *(deployment.containers(deployment.client_project(client))["federated-backend"]
               for client in deployment.clients)]
    return "\n".join(f"--- {name}\n{pods.logs(name)[-1500:]}" for name in names)
