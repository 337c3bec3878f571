"""The three images, built by `make images` (podman, on bases made on this machine, cached between
runs) and run exactly as the manifests run their pods (tests/containers/pods.py): the platform
backend's pod from the dev overlay (its init containers migrate and adopt the logger's token,
then gunicorn serves), the UI's pod in front of it, a client's federated backend pod, and job
containers as the job launcher builds them. A broken Dockerfile fails the build, a missing file
or module or a wrong entrypoint fails a run, and so does anything that writes outside its
volumes or reads a file the pod's user may not."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaml.jobs import JobSpec, Role
from kafkaml.jobs.manifest import job_manifest
from tests.containers.pods import Namespace, logs, podman, published_port, wait_running
from tests.unit.test_manifests import render

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "out" / "images" / "report.json"
VERSION = "0.1.0"
MB = 1_000_000
#: The issue's targets for the images' sizes (as podman counts them: all layers, uncompressed).
UI_MAX_BYTES = 60 * MB


@pytest.fixture(scope="module")
def images() -> dict:
    """`make images`: builds what changed (a cold build takes about 15 minutes), reports sizes."""
    done = subprocess.run(["make", "images"], cwd=ROOT, capture_output=True, text=True, timeout=3300)
    assert done.returncode == 0, f"make images failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return json.loads(REPORT.read_text())


@pytest.fixture
def namespaces(images: dict, tmp_path: Path) -> Iterator[list[Namespace]]:
    """Namespaces a test creates (append them); their containers and networks go afterwards."""
    created: list[Namespace] = []
    yield created
    for namespace in created:
        namespace.delete()


def namespace(created: list[Namespace], name: str, objects, work: Path) -> Namespace:
    made = Namespace(name, tuple(objects), work / name, f"kml{uuid.uuid4().hex[:6]}").create()
    created.append(made)
    return made


def with_secret(objects, secret: str, key: str, value: str) -> list[dict]:
    """The rendered objects with one Secret key's value replaced."""
    import base64
    import copy

    changed = copy.deepcopy(list(objects))
    for obj in changed:
        if obj["kind"] == "Secret" and obj["metadata"]["name"].startswith(secret + "-"):
            obj["data"][key] = base64.b64encode(value.encode()).decode()
    return changed


def http_in(container: str, url: str, host: str = "localhost", timeout_s: float = 90) -> tuple[int, str]:
    """GET ``url`` from inside ``container``'s network namespace (its image's Python), retried
    until it answers 200 or ``timeout_s`` passes."""
    script = ("import sys, urllib.request as u\n"
              f"r = u.urlopen(u.Request({url!r}, headers={{'Host': {host!r}}}), timeout=5)\n"
              "print(r.status); print(r.read().decode()[:2000])")
    deadline = time.monotonic() + timeout_s
    while True:
        done = podman("exec", container, "python", "-c", script, check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        wait_running(container, 0)
        time.sleep(1)
    assert done.returncode == 0, f"{url} from {container}: {done.stderr[-1500:]}\n{logs(container)}"
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def http(url: str, host: str = "localhost", timeout_s: float = 60) -> tuple[int, dict, bytes]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=5) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


# --- sizes -----------------------------------------------------------------------------------

def test_the_images_are_built_and_the_ui_image_is_small(images: dict) -> None:
    sizes = images["images"]
    assert set(sizes) == {f"localhost/kafka-ml/{name}:{VERSION}" for name in ("platform", "worker", "ui")}
    assert sizes[f"localhost/kafka-ml/ui:{VERSION}"] <= UI_MAX_BYTES


# --- the platform: backend and UI ------------------------------------------------------------

def test_the_backend_pod_migrates_and_serves_and_the_ui_pod_proxies_it(namespaces: list[Namespace],
                                                                        tmp_path: Path) -> None:
    """The dev overlay's backend Deployment (init containers, then gunicorn) and UI Deployment, as
    rendered; only the database URL is SQLite on the pod's /tmp volume (no PostgreSQL here)."""
    objects = with_secret(render("dev"), "kafka-ml-database", "url", "sqlite:////tmp/kafkaml/platform.sqlite3")
    platform = namespace(namespaces, "kafka-ml", objects, tmp_path)
    backend = platform.run_pod("Deployment", "kafka-ml-backend")["backend"]
    status, body = http_in(backend, "http://127.0.0.1:8000/api/health/")
    assert status == 200 and json.loads(body)["status"] == "ok", body

    ui = platform.run_pod("Deployment", "kafka-ml-ui", publish={"ui": ["127.0.0.1::8080"]})["ui"]
    base = f"http://127.0.0.1:{published_port(ui, 8080)}"
    status, _, page = http(f"{base}/trainings/12")  # a client-side route: the app's index.html
    assert status == 200 and b'<div id="root">' in page, page[:500]
    status, headers, answer = http(f"{base}/api/health/")  # through nginx to the backend's Service
    assert status == 200 and json.loads(answer)["status"] == "ok", answer
    assert headers.get("X-Frame-Options") == "DENY"
    wait_running(ui, 2)


def test_a_clients_federated_backend_pod_migrates_and_serves(namespaces: list[Namespace], tmp_path: Path) -> None:
    client = namespace(namespaces, "kafka-ml-vehicle-1", render("example-vehicle-1"), tmp_path)
    backend = client.run_pod("Deployment", "kafka-ml-federated-backend")["federated-backend"]
    status, body = http_in(backend, "http://127.0.0.1:8000/api/health/")
    assert status == 200 and json.loads(body)["status"] == "ok", body


# --- jobs ------------------------------------------------------------------------------------

def job(namespaces: list[Namespace], tmp_path: Path, role: Role, **spec) -> tuple[int, str]:
    """Runs a job's container as the Kubernetes launcher builds its pod; (exit code, output)."""
    manifest = job_manifest(JobSpec(name=f"job-{role.value}", role=role, owner="kafka-ml", training="1",
                                    image=f"kafka-ml/worker:{VERSION}", **spec), "kafka-ml")
    jobs = namespace(namespaces, "jobs", [manifest], tmp_path)
    template = manifest["spec"]["template"]
    volumes = jobs.volumes(manifest["metadata"]["name"], template["spec"])
    container = template["spec"]["containers"][0]
    done = podman(*jobs.run_command(f"{jobs.network}-{role.value}", template["spec"], container, volumes,
                                    detach=False), check=False)
    return done.returncode, done.stdout + done.stderr


def test_the_worker_image_trains_with_tensorflow_as_a_job_pod(namespaces: list[Namespace], tmp_path: Path) -> None:
    script = ("import numpy as np, tensorflow as tf\n"
              "model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])\n"
              "model.compile('sgd', 'mse')\n"
              "history = model.fit(np.ones((32, 4)), np.ones((32, 1)), epochs=2, verbose=0)\n"
              "print('trained', tf.__version__, len(history.history['loss']))\n")
    code, output = job(namespaces, tmp_path, Role.TRAINER, command=("python", "-c", script))
    assert code == 0 and "trained 2.21.0 2" in output, output[-3000:]


def test_the_worker_image_starts_the_aggregator_module(namespaces: list[Namespace], tmp_path: Path) -> None:
    """No settings: the aggregator's own start-up check answers (the module and its imports are in
    the image), not Python's 'No module named'."""
    code, output = job(namespaces, tmp_path, Role.AGGREGATOR, module="training_worker.aggregator")
    assert code == 2 and "cannot start the aggregator" in output, output[-3000:]
