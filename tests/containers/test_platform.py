"""The platform run from its images with the manifests' settings (tests/containers/pods.py): the dev
overlay's backend (migrations first, in its init container), UI and data control logger in the
namespace kafka-ml, beside a broker (Tansu), the chain (Anvil) and PostgreSQL in place of the dev
overlay's Kafka, Geth and postgres components; and two data owners, each in its own namespace from
an overlay `kafkaml k8s client-overlay` writes, with its own broker, federated backend and two
loggers, reaching the platform's broker and chain by their cluster names. Healthy means: the API
answers through the UI's nginx, both federated backends answer, every logger keeps running. The
platform's namespace is brought up once for the file (a module fixture): beside the clients, its
backend and UI pods are checked as the images' pods (the app on a client-side route, nginx's
headers, the images' own health checks).

Not here: a training. The backends launch their jobs through the Kubernetes API
(JOB_LAUNCHER=kubernetes), which nothing answers here; a job as a container, launched from inside
the backend's container through an engine's socket, runs in test_compose_live.py."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kafkaml.client_overlay import ClientOverlay, files
from kafkaml.local.accounts import DEV_BALANCE_ETH, DEV_MNEMONIC
from tests.containers import infra, pods
from tests.unit.test_manifests import render, render_directory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PLATFORM = "kafka-ml"
CLIENTS = ("vehicle-1", "vehicle-2")
CHAIN_ID = 1337
#: Anvil's first account for DEV_MNEMONIC (funded at start): the platform's admin key.
ADMIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def kafka_names(namespace: str) -> tuple[str, ...]:
    """The names the broker answers to: the Service, its cluster name, the advertised pod name."""
    return ("kafka", f"kafka.{namespace}.svc", f"kafka-0.kafka-headless.{namespace}.svc")


def start_broker(where: pods.Namespace) -> str:
    advertised = f"tcp://kafka-0.kafka-headless.{where.name}.svc:9092"
    return where.run_service("kafka", infra.TAGS["tansu"], [
        "broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", advertised,
        "--cluster-id", f"kafkaml-{where.name}", "--storage-engine", "memory://tansu/"],
        user="10001:10001", aliases=kafka_names(where.name))


def start_postgres(where: pods.Namespace, password: str) -> str:
    data, run = where.work / "postgres" / "data", where.work / "postgres" / "secret"
    for directory, mode in ((data, 0o700), (run, 0o700)):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, 999, 999)
        os.chmod(directory, mode)
    (run / "password").write_text(password)
    os.chown(run / "password", 999, 999)
    return where.run_service("postgres", infra.TAGS["postgres"], [], user="999:999", aliases=("postgres",),
                             volumes={"/var/lib/postgresql/data": data, "/run/secrets/postgres": run},
                             env={"POSTGRES_USER": "kafkaml", "POSTGRES_DB": "kafkaml",
                                  "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres/password"})


def client_objects(name: str, work: Path) -> list[dict]:
    """The overlay `kafkaml k8s client-overlay` writes for ``name``, rendered, with fresh keys."""
    out = work / "overlays" / name
    written = files(ClientOverlay(name=name, platform_kafka="kafka.kafka-ml.svc:9092",
                                  rpc_url="http://geth.kafka-ml.svc:8545", chain_id=CHAIN_ID,
                                  api_server_cidr="10.0.0.1/32"), out)
    for relative, text in written.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    for example in out.rglob("*.example"):
        example.with_suffix("").write_text(example.read_text())
    keys = {"backend-secret-key": secrets.token_urlsafe(50), "logger-token": secrets.token_hex(20)}
    return pods.with_secrets(render_directory(out), {"kafka-ml-client-keys": keys,
                                                "kafka-ml-client-wallet": {"key": "0x" + secrets.token_hex(32)}})


@dataclass
class Platform:
    """The platform's namespace running: its containers, the cluster network the clients reach its
    broker and chain on, the UI's address, and when it started and how long to a healthy API."""

    namespace: pods.Namespace
    cluster: str
    broker: str
    chain: str
    backend: str
    ui: str
    logger: str
    base: str
    started: float
    healthy_s: float


@pytest.fixture(scope="module")
def platform(infra_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform's namespace, brought up once for the file's tests: none of them changes what
    another checks (the pods' checks only read; the clients join it in namespaces of their own,
    removed after their test), so they run in any order. Removed after the file's last test."""
    work = tmp_path_factory.mktemp("platform")
    started = time.monotonic()
    cluster = f"kml{secrets.token_hex(3)}-cluster"
    pods.podman("network", "create", "--disable-dns", cluster)
    made: list[pods.Namespace] = []
    try:
        password = secrets.token_hex(16)
        objects = pods.with_secrets(render("dev"), {
            "kafka-ml-database": {"url": f"postgresql://kafkaml:{password}@postgres:5432/kafkaml"},
            "kafka-ml-platform-keys": {**pods.platform_keys(), "eth-admin-key": ADMIN_KEY}})
        namespace = pods.new_namespace(made, PLATFORM, objects, work)
        namespace.networks.append(cluster)
        broker = start_broker(namespace)
        chain = namespace.run_service("geth", infra_images["anvil"], [
            "--host", "0.0.0.0", "--port", "8545", "--chain-id", str(CHAIN_ID), "--accounts", "4",
            "--balance", str(DEV_BALANCE_ETH), "--mnemonic", DEV_MNEMONIC],
            user="10001:10001", aliases=("geth", "geth.kafka-ml.svc"))
        start_postgres(namespace, password)

        backend = namespace.run_pod("Deployment", "kafka-ml-backend")["backend"]
        ui = namespace.run_pod("Deployment", "kafka-ml-ui", publish={"ui": ["127.0.0.1::8080"]})["ui"]
        base = f"http://127.0.0.1:{pods.published_port(ui, 8080)}"
        status, _, answer = pods.http(f"{base}/api/health/", timeout_s=120)
        healthy_s = time.monotonic() - started
        assert status == 200 and json.loads(answer)["status"] == "ok", answer
        (logger,) = namespace.run_pod("Deployment", "kafka-ml-data-control-logger").values()
        yield Platform(namespace, cluster, broker, chain, backend, ui, logger, base, started, healthy_s)
    finally:
        for namespace in made:
            namespace.delete()
        pods.podman("network", "rm", "--force", cluster, check=False)


def assert_image_health_check_passes(container: str) -> None:
    """The image's own HEALTHCHECK (Docker's; Kubernetes uses the probes) passes in the pod's settings.

    As the engine judges it: unhealthy only after its 3 retries fail in a row, since one check (a
    Python start-up and a request in 5 s) can time out while the suite's other workers train."""
    answers = []
    for _ in range(3):
        done = pods.podman("healthcheck", "run", container, check=False)
        if done.returncode == 0:
            return
        answers.append(f"{done.stdout.strip()} {done.stderr.strip()}")
    raise AssertionError(f"{container}: three checks in a row failed: {answers}")


def test_the_backend_pod_serves_and_the_ui_pod_serves_the_app_and_proxies_it(platform: Platform) -> None:
    """The dev overlay's backend Deployment (init containers, then gunicorn) and UI Deployment, as
    rendered, and their images' health checks."""
    status, body = pods.http_in(platform.backend, "http://127.0.0.1:8000/api/health/")
    assert status == 200 and json.loads(body)["status"] == "ok", body
    assert_image_health_check_passes(platform.backend)
    status, _, page = pods.http(f"{platform.base}/trainings/12")  # a client-side route: the app's index.html
    assert status == 200 and b'<div id="root">' in page, page[:500]
    status, headers, answer = pods.http(f"{platform.base}/api/health/")  # through nginx to the backend's Service
    assert status == 200 and json.loads(answer)["status"] == "ok", answer
    assert headers.get("X-Frame-Options") == "DENY"
    pods.wait_running(platform.ui, 2)
    assert_image_health_check_passes(platform.ui)


def test_the_platform_and_two_clients_run_from_their_images(platform: Platform, namespaces: list[pods.Namespace],
                                                            tmp_path: Path) -> None:
    # The platform's broker and chain by their cluster names, from the clients' namespaces.
    cluster_hosts = {name: pods.address(platform.broker, platform.cluster) for name in kafka_names(PLATFORM)[1:]}
    cluster_hosts["geth.kafka-ml.svc"] = pods.address(platform.chain, platform.cluster)
    federated, loggers = [], [platform.logger]
    for client in CLIENTS:
        owner = pods.new_namespace(namespaces, f"kafka-ml-{client}", client_objects(client, tmp_path), tmp_path)
        owner.networks.append(platform.cluster)
        owner.hosts.update(cluster_hosts)
        start_broker(owner)
        federated.append(owner.run_pod("Deployment", "kafka-ml-federated-backend")["federated-backend"])
        for logger in ("kafka-ml-data-control-logger", "kafka-ml-model-control-logger"):
            loggers += owner.run_pod("Deployment", logger).values()
    for container in federated:
        status, body = pods.http_in(container, "http://127.0.0.1:8000/api/health/")
        assert status == 200 and json.loads(body)["status"] == "ok", body
    for container in [*loggers, platform.backend, platform.ui]:
        pods.wait_running(container, 10)
    print(f"\nplatform from its images to a healthy API through the UI: {platform.healthy_s:.1f} s; "
          f"everything (platform, two clients) running: {time.monotonic() - platform.started:.1f} s")
