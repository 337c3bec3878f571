"""`kafkaml local up` brings the platform backend up with the brokers and the chain: migrated,
with a first administrator whose credentials are in a 0600 file, reported by `status --json`
under `platform_url`, building models on its SQLite database, and stopped by `down`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from kafkaml.cli.platform_client import wait_until_built
from kafkaml.jobs import JobSpec, LocalLauncher, Role
from kafkaml.local import client as local_client
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.sinks import publish_datasource
from kafkaml.toydata import TOY_MODEL_SOURCE, toy_blobs
from kafkaml.workloads import Samples


def kafkaml(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKAML_RUN_DIR": str(run_dir)}
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite in the run directory
    return subprocess.run([sys.executable, "-m", "kafkaml.cli", "local", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_local_up_starts_the_platform_backend_and_down_stops_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    try:
        assert kafkaml(run_dir, "up", "--clients", "1").returncode == 0
        status = kafkaml(run_dir, "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        described = json.loads(status.stdout)
        url = described["platform_url"]
        assert url.startswith("http://127.0.0.1:") and all(part["healthy"] for part in described["parts"])
        credentials_file = run_dir / platform.ADMIN_FILE
        assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
        credentials = json.loads(credentials_file.read_text())
        me = requests.get(f"{url}/api/auth/me/", headers={"Authorization": f"Token {credentials['token']}"})
        assert me.json()["username"] == "admin" and me.json()["is_staff"] is True
        assert (run_dir / "platform.sqlite3").exists()
        chain = requests.get(f"{url}/api/chain/", headers={"Authorization": f"Token {credentials['token']}"}).json()
        assert chain["configured"] and chain["reachable"]
        # The platform's data control logger registers what is described on the platform broker.
        running = local.load(run_dir)
        publish_datasource(running.bootstrap("platform"), "kml-validation-local", "validation-local",
                           Samples(*toy_blobs(50, 1)), 3, validation_rate=0.9)
        headers = {"Authorization": f"Token {credentials['token']}"}
        deadline = time.monotonic() + 30
        while not requests.get(f"{url}/api/datasources/", headers=headers).json()["count"]:
            assert time.monotonic() < deadline, "the datasource was not registered by the logger"
            time.sleep(0.3)
        (registered,) = requests.get(f"{url}/api/datasources/", headers=headers).json()["results"]
        assert registered["datasource_id"] == "validation-local" and registered["counts"]["validation"] == 45
        # Models build in the background on SQLite too (its transactions take the write lock at once).
        created = requests.post(f"{url}/api/models/", headers=headers, json={"name": "toy", "source": TOY_MODEL_SOURCE})
        assert created.status_code == 201 and created.json()["status"] == "building", created.text
        model = wait_until_built(lambda: requests.get(f"{url}/api/models/{created.json()['id']}/", headers=headers).json())
        assert model["parameters"] == 195
        # ... with a relay token of its own (0600), which is nobody's user token.
        relay_file = run_dir / platform.RELAY_TOKEN_FILE
        assert stat.S_IMODE(relay_file.stat().st_mode) == 0o600
        for scheme in ("Token", "Relay"):
            as_user = requests.get(f"{url}/api/auth/me/", headers={"Authorization": f"{scheme} {relay_file.read_text()}"})
            assert as_user.status_code == 403, (scheme, as_user.text)
        # The client's federated backend and loggers run too, trusting the platform's token.
        federated = described["clients"]["client-1"]["federated_backend_url"]
        client_token = local_client.admin_credentials(run_dir / "clients" / "client-1")["token"]
        wallet = requests.get(f"{federated}/api/wallet/", headers={"Authorization": f"Token {client_token}"}).json()
        assert wallet["client_id"] == "client-1" and wallet["address"] == running.account("client-1").address
        assert described["platform_token"] == chain["token"]
        kinds = {part["kind"] for part in described["parts"]}
        assert {"client-backend", "client-data-logger", "client-model-logger", "logger"} <= kinds
        again = kafkaml(run_dir, "up", "--clients", "1")  # idempotent: the healthy backend is kept
        assert again.returncode == 0 and json.loads(credentials_file.read_text()) == credentials
        # A job a service launched (here one of the platform's) is stopped by down with the rest.
        launcher = LocalLauncher(run_dir / "platform-jobs")
        launcher.launch(JobSpec(name="aggregator-999", role=Role.AGGREGATOR, owner="platform-backend",
                                training="999", image="kafka-ml/worker:0.1.0", command=("sleep", "600")))
    finally:
        kafkaml(run_dir, "down")
    assert LocalLauncher(run_dir / "platform-jobs").status({}) == []
    assert local.load(run_dir) is None
    try:
        requests.get(f"{url}/api/health/", timeout=2)
        raise AssertionError("the backend still answers after down")
    except requests.ConnectionError:
        pass
