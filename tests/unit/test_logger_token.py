"""``ensure_logger_token``: the loggers register with a relay token the operator put in a Secret,
which the backend adopts at start (kafkaml/services/registry/management/commands). Checked on both
backends (the platform's, for its data control logger; a client's federated backend, for its two
loggers), each through its own ``python -m`` entry point as its init container runs it, with
SQLite in a scratch run directory: adopted once, idempotent, rotated, stored only as its SHA-256
and as no user at all; the staff account an earlier version made loses its API token and is
deactivated; a malformed token refused."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEGACY_STAFF = """
import django
django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create(username="control-logger", is_staff=True)
Token.objects.create(user=user, key="b" * 40)
"""
#: Each backend's SQLite file in its run directory (``database_file`` of its settings).
DATABASE_FILES = {"backend": "platform.sqlite3", "federated_backend": "federated.sqlite3"}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", env["DJANGO_SETTINGS_MODULE"].split(".")[0], *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("service", ["backend", "federated_backend"])
def test_the_logger_token_is_adopted_idempotently_and_rotated(service: str, tmp_path: Path) -> None:
    # SQLite in the scratch directory, whatever database the calling shell names.
    outside = {name: value for name, value in os.environ.items() if not name.startswith("DATABASE_URL")}
    env = {**outside, "BACKEND_SECRET_KEY": "unit", "KAFKAML_RUN_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": f"{service}.settings"}
    assert _run(env, "migrate", "--noinput").returncode == 0
    subprocess.run([sys.executable, "-c", LEGACY_STAFF], env=env, cwd=ROOT, check=True, timeout=120)
    token_file = tmp_path / "registry-token"

    def state() -> dict:
        """What the database holds, read from its file (a Django process per look costs seconds)."""
        with contextlib.closing(sqlite3.connect(tmp_path / DATABASE_FILES[service])) as database:
            legacy = database.execute("SELECT is_active FROM auth_user WHERE username = 'control-logger'").fetchone()
            return {"relays": [list(row) for row in database.execute("SELECT name, key_sha256 FROM registry_relaytoken")],
                    "user_tokens": database.execute("SELECT COUNT(*) FROM authtoken_token").fetchone()[0],
                    "legacy_active": None if legacy is None else bool(legacy[0])}

    first, second = "a" * 40, "0123456789abcdef" * 2
    for key in (first, first, second):
        token_file.write_text(key + "\n")
        done = _run(env, "ensure_logger_token", "--token-file", str(token_file))
        assert done.returncode == 0, done.stderr[-2000:]
        assert state() == {"relays": [["control-logger", hashlib.sha256(key.encode()).hexdigest()]],
                           "user_tokens": 0, "legacy_active": False}
    token_file.write_text("short")
    refused = _run(env, "ensure_logger_token", "--token-file", str(token_file))
    assert refused.returncode != 0 and "32 to 64 letters or digits" in refused.stderr
    assert state()["relays"] == [["control-logger", hashlib.sha256(second.encode()).hexdigest()]]
