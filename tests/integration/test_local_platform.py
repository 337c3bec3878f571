"""`kafkaml local up` brings the platform backend up with the brokers and the chain: migrated,
with a first administrator whose credentials are in a 0600 file, reported by `status --json`
under `platform_url`, and stopped by `down`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import requests

from kafkaml.local import platform
from kafkaml.local import stack as local


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
        again = kafkaml(run_dir, "up", "--clients", "1")  # idempotent: the healthy backend is kept
        assert again.returncode == 0 and json.loads(credentials_file.read_text()) == credentials
    finally:
        kafkaml(run_dir, "down")
    assert local.load(run_dir) is None
    try:
        requests.get(f"{url}/api/health/", timeout=2)
        raise AssertionError("the backend still answers after down")
    except requests.ConnectionError:
        pass
