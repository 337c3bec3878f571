"""The backend maps failures of what it depends on to clear answers, never a 500: a job launcher
whose API refuses or cannot be reached (Kubernetes) makes ``POST /api/results/{id}/stop/`` a 503.

The request goes through the real URLconf, authentication and view (Django's test client in a
process of the backend's own settings, on the session backend's database) with the Kubernetes
launcher configured. No Kubernetes API server runs here: one stand-in answers every call with a
500 and records what it was asked (the namespace and the training's label selector), and the
other case points the launcher at a port that is bound but not listening (connections refused).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from kafkaml.jobs.spec import LABEL_TRAINING
from tests.backend.conftest import Backend

NAMESPACE = "kml-api-errors"
OWNER = "api-errors-owner"
STOP = """
import json, sys, django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from backend.api.models import TrainingResult
owner, result_id = sys.argv[1:]
client = Client()
client.force_login(get_user_model().objects.get(username=owner))
answer = client.post(f"/api/results/{result_id}/stop/", HTTP_HOST="127.0.0.1")
print(json.dumps([answer.status_code, answer.json(), TrainingResult.objects.get(pk=result_id).status]))
"""


class RefusingApi(BaseHTTPRequestHandler):
    """Answers every call as an API server in trouble does (500 and a Status object)."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        type(self).requests.append(self.path)
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                           "reason": "InternalError", "message": "etcd is down"}).encode()
        self.send_response(500, "Internal Server Error")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_DELETE = do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def refusing_api() -> Iterator[str]:
    RefusingApi.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def unreachable_api() -> Iterator[str]:
    """An address whose port is held (bound, never listening): every connection is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(scope="module")
def running_result(backend: Backend) -> int:
    """A running training result of OWNER (rows only: no job runs for it)."""
    return backend.dormant_result(OWNER)[0]


def stop_with_kubernetes_at(backend: Backend, server: str, result_id: int, tmp_path: Path) -> tuple[int, dict]:
    """POST stop/ on the running result with the Kubernetes launcher's API at ``server``; a stop
    that fails must leave the result running (nothing was stopped)."""
    kubeconfig = tmp_path / "kubeconfig.json"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "test-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}))
    env = {**backend.env, "JOB_LAUNCHER": "kubernetes", "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": NAMESPACE}
    env.pop("KUBERNETES_SERVICE_HOST", None)  # never the in-cluster configuration
    done = subprocess.run([sys.executable, "-c", STOP, OWNER, str(result_id)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    status, body, state = json.loads(done.stdout.splitlines()[-1])
    assert state == "running", (status, body, state)
    return status, body


def test_a_launcher_whose_api_refuses_makes_stop_a_503(backend: Backend, running_result: int, refusing_api: str,
                                                       tmp_path: Path) -> None:
    status, body = stop_with_kubernetes_at(backend, refusing_api, running_result, tmp_path)
    assert status == 503, body
    assert "job launcher failed" in body["detail"] and "Kubernetes API answered 500" in body["detail"], body
    listed = [urlsplit(path) for path in RefusingApi.requests]
    assert [url.path for url in listed] == [f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"], RefusingApi.requests
    selector = parse_qs(listed[0].query)["labelSelector"][0].split(",")
    assert f"{LABEL_TRAINING}={running_result}" in selector, selector


def test_a_launcher_whose_api_is_unreachable_makes_stop_a_503(backend: Backend, running_result: int,
                                                              unreachable_api: str, tmp_path: Path) -> None:
    status, body = stop_with_kubernetes_at(backend, unreachable_api, running_result, tmp_path)
    assert status == 503, body
    assert "job launcher failed" in body["detail"] and "Kubernetes API cannot be reached" in body["detail"], body
