"""The throw-away PostgreSQL of a session on a machine without a server of its own
(``tests/postgres_server.py``): it serves databases, runs as no root, and leaves nothing behind;
a session whose configured server does not answer starts one and removes it at its end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg

from tests import postgres_server
from tests.conftest import ROOT

INNER_TEST = '''
import json
import os

import psycopg


def test_the_session_serves_a_database(session_postgres, postgres_dsn):
    with psycopg.connect(postgres_dsn) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    started = session_postgres.started
    report = {"dsn": postgres_dsn, "directory": str(started.directory), "pid": started.pid()}
    with open(os.environ["SESSION_REPORT"], "w") as out:
        json.dump(report, out)
'''


def test_a_started_server_serves_a_database_and_leaves_nothing_behind() -> None:
    server = postgres_server.start()
    try:
        pid = server.pid()
        assert os.stat(f"/proc/{pid}").st_uid != 0, "PostgreSQL refuses root; the server must run as another user"
        with psycopg.connect(server.admin_dsn, autocommit=True) as connection:
            connection.execute("CREATE DATABASE probe")
        with psycopg.connect(server.admin_dsn.rsplit("/", 1)[0] + "/probe") as connection:
            assert connection.execute("SELECT current_database()").fetchone() == ("probe",)
    finally:
        server.stop()
    assert not postgres_server.running(pid), f"the server's process {pid} outlived stop()"
    assert not server.directory.exists(), f"{server.directory} outlived stop()"


def test_a_session_without_the_configured_server_starts_its_own(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        silent_port = probe.getsockname()[1]
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    report = tmp_path / "report.json"
    env = {**os.environ, "KAFKAML_TEST_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{silent_port}/postgres",
           "SESSION_REPORT": str(report)}
    inner = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                            "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert inner.returncode == 0, inner.stdout + inner.stderr
    session = json.loads(report.read_text())
    assert f":{silent_port}/" not in session["dsn"]
    assert not postgres_server.running(session["pid"]), "the session's server outlived the session"
    assert not Path(session["directory"]).exists(), "the session's server directory outlived the session"
