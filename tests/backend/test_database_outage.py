"""The platform backend's PostgreSQL goes away mid-training and comes back (a server of this test's
own, stopped and started again with its data): the health check says so, every request gets a 503
naming the database (never a 500), an aggregator's reports wait in its spool and are delivered,
once each, when the database is back; nothing needs a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from kafkaml.local import stack as local
from tests import postgres_server
from tests.backend.conftest import Backend, running_backend
from training_worker.results import FileSink, HttpSink, RoundReport


@pytest.fixture(scope="module")
def database_server() -> Iterator[postgres_server.Server]:
    server = postgres_server.start()
    try:
        with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
            admin.execute("CREATE DATABASE platform")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def outage_backend(local_stack: local.Stack, database_server: postgres_server.Server,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    dsn = f"postgresql://postgres@127.0.0.1:{database_server.port}/platform"
    with running_backend(local_stack, dsn, tmp_path_factory.mktemp("outage")) as running:
        yield running


def test_requests_get_a_503_while_the_database_is_away_and_reports_arrive_once_after(
        outage_backend: Backend, database_server: postgres_server.Server, tmp_path: Path) -> None:
    backend = outage_backend
    owner = backend.as_user("outage")  # first: dormant_result would make the user without a password
    result_id, job_token = backend.dormant_result("outage")
    sink = HttpSink(f"{backend.url}/api/results/{result_id}/", FileSink(tmp_path, str(result_id), "aggregator"),
                    token=job_token, attempts=1, backoff_s=0.01)
    sink.progress(RoundReport(version=1, val_loss=0.5, val_accuracy=0.6, elapsed_s=1.0))
    assert sink.undelivered == []

    database_server.pause()
    try:
        health = requests.get(f"{backend.url}/api/health/", timeout=30)
        assert health.status_code == 503 and health.json() == {"status": "degraded", "database": False}
        listed = owner.get(f"{backend.url}/api/results/", timeout=30)
        assert listed.status_code == 503 and "database" in listed.json()["detail"], listed.text
        for version in (2, 3):
            sink.progress(RoundReport(version=version, val_loss=0.5 / version, val_accuracy=0.6, elapsed_s=version))
        assert [message["data"]["version"] for message in sink.undelivered] == [2, 3]
    finally:
        database_server.resume()

    assert requests.get(f"{backend.url}/api/health/", timeout=30).status_code == 200
    sink.close(timeout_s=30)
    assert sink.undelivered == []
    rounds = owner.get(f"{backend.url}/api/results/{result_id}/rounds/", timeout=30)
    assert rounds.status_code == 200, rounds.text
    assert [r["version"] for r in rounds.json()] == [1, 2, 3]
    for _ in range(3):  # every kept connection was replaced: no request pays for the outage
        assert owner.get(f"{backend.url}/api/results/", timeout=30).status_code == 200
    assert "Internal Server Error" not in (backend.run_dir / "backend.log").read_text()
