"""Platform API: how soon a round is visible, and how fast the results list answers under load.

Targets (issue 11; the list's tightened by issue 18):

* ``round_visible_latency_s_p95`` ≤ 1 s: from the aggregator recording a round (the moment its
  report is sent, by ``training_worker.results.HttpSink`` with the result's job token, exactly as
  the aggregator does) to a client polling ``/api/results/{id}/rounds/?after=N`` the way the UI
  does (every ``UI_POLL_S`` = 0.5 s) receiving it. Measured while the list load below runs.
* ``results_list_p95_ms`` ≤ 150 ms: ``GET /api/results/?limit=50&offset=...`` — the UI's page
  size, 50 (the API's default page) — on 1,000 training results with 32 rounds each, by 16
  concurrent clients (a process each), each walking the 20 pages in its own order.

The benchmark starts its own backend (gunicorn, as ``kafkaml local up`` runs it: same command,
environment and migrations) on a throw-away PostgreSQL database (127.0.0.1:5432, like the tests),
writes the results and rounds directly through Django's ORM in bulk, sends requests only to
127.0.0.1, each run bounded in count and time, and stops everything it started. ``--quick`` (100
results) is a smoke check, run by the test suite so that the script cannot rot.

    .venv/bin/python benchmarks/platform_api.py --json out/platform_api.json
    .venv/bin/python benchmarks/platform_api.py --quick
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
from psycopg import sql
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's backend and kafkaml, also when run from elsewhere

from _report import p95, write_figures  # noqa: E402

from kafkaml import processes  # noqa: E402
from kafkaml.local import platform  # noqa: E402
from kafkaml.local import stack as local  # noqa: E402
from kafkaml.local.accounts import LocalAccount  # noqa: E402
from training_worker.results import FileSink, HttpSink, RoundReport  # noqa: E402

POSTGRES_ADMIN_DSN = os.environ.get("KAFKAML_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ROUNDS = 32
PAGE = 50
CLIENTS = 16
UI_POLL_S = 0.5
ROUND_INTERVAL_S = 0.25  # between two recorded rounds (faster than any real training)
TARGETS = {"round_visible_latency_s_p95": 1.0, "results_list_p95_ms": 150.0}


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"kafkaml_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def running_backend(run_dir: Path, database_url: str,
                    chain_stack: local.Stack | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """The backend as ``kafkaml local up`` starts it: on ``chain_stack``'s broker and chain when
    given, else without broker or chain (nothing here trains)."""
    part = local.Part("platform-backend", "backend", processes.free_port())
    if chain_stack is not None:
        stack = local.Stack(run_dir, chain_stack.chain_id, [*chain_stack.parts, part], chain_stack.accounts)
    else:
        key_file = run_dir / "keys" / "unused.key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text("0x" + "11" * 32)
        stack = local.Stack(run_dir, 31337, [local.Part("platform", "broker", processes.free_port()),
                                             local.Part("chain", "chain", processes.free_port()), part],
                            [LocalAccount("platform", "0x" + "00" * 20, key_file)])
    os.environ["DATABASE_URL"] = database_url  # platform.environment() passes it on
    env = platform.environment(stack, part)
    platform.prepare(stack, part)
    pid = processes.spawn(platform.command(part), run_dir / "backend.log", env)
    try:
        deadline = time.monotonic() + 60
        while not platform.healthy(part.address, 1.0):
            if time.monotonic() > deadline or not processes.is_running(pid):
                raise RuntimeError(f"the backend did not start:\n{processes.tail(run_dir / 'backend.log', 40)}")
            time.sleep(0.2)
        yield part.address, env
    finally:
        processes.stop_group(pid, 5.0)


def seed(env: dict[str, str], results: int) -> tuple[str, int, str]:
    """``results`` finished trainings of one user with ROUNDS rounds each, plus one running result
    whose job token is known; returns the user's API token, that result's id and its job token."""
    os.environ.update({name: env[name] for name in ("DJANGO_SETTINGS_MODULE", "KAFKAML_RUN_DIR",
                                                     "BACKEND_SECRET_KEY_FILE", "DATABASE_URL")})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from backend.api.models import Configuration, Deployment, MLModel, RoundRecord, TrainingResult
    from kafkaml.services.registry.models import Datasource

    job_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(12))
        # a description as large as a real one (ARCHITECTURE.md: an 11 KB Keras JSON), so that reading
        # it where it is not needed costs what it costs
        description = json.dumps({"config": {"layers": [{"class_name": "Dense", "config": {"units": index}}
                                                        for index in range(220)]}})
        model = MLModel.objects.create(owner=user, name="toy", source="x = 1\n" * 200, description_json=description,
                                       parameters=74,
                                       input_shape=[None, 8], output_shape=[None, 2],
                                       layers=[{"name": "dense", "class": "Dense", "parameters": 74,
                                                "output_shape": [None, 2]}])
        configuration = Configuration.objects.create(owner=user, name="toy")
        configuration.ml_models.set([model])
        datasource = Datasource.objects.create(
            datasource_id="validation", topic="validation", format="RAW", counts={"validation": 1200},
            input_shape=[8], classes=2, message={}, sha256="0" * 64, control_topic="bench", control_partition=0,
            control_offset=0)
        settings = {"rounds": ROUNDS, "strategy": "fedasync", "epochs": 1, "batch": 32}
        clients = {f"0x{index:040x}": 600 for index in range(1, 5)}
        deployments = Deployment.objects.bulk_create(
            Deployment(owner=user, configuration=configuration, validation_datasource=datasource,
                       coordination="blockchain", settings=settings, clients=clients) for _ in range(results + 1))
        now = timezone.now()
        trained = TrainingResult.objects.bulk_create(
            TrainingResult(deployment=deployment, owner=user, ml_model=model, federated_id=f"kml-{uuid.uuid4().hex[:16]}",
                           token_sha256="0" * 64, status=TrainingResult.Status.FINISHED,
                           contract_address=f"0x{index:040x}", started_at=now, finished_at=now,
                           final={"metrics": {"accuracy": 0.9, "loss": 0.3}, "elapsed_s": 60.0},
                           model_sha256="0" * 64)
            for index, deployment in enumerate(deployments[:results], start=1))
        live = TrainingResult.objects.create(
            deployment=deployments[-1], ml_model=model, federated_id=f"kml-{uuid.uuid4().hex[:16]}",
            status=TrainingResult.Status.RUNNING, started_at=now,
            token_sha256=hashlib.sha256(job_token.encode()).hexdigest())
        contributions = [{"client": address, "samples": 600, "staleness": 1, "reward": "1000000000000000000",
                          "accepted": True, "reason": "", "sha256": "ab" * 32} for address in list(clients)[:2]]
        RoundRecord.objects.bulk_create(
            (RoundRecord(result=result, version=version, val_loss=1.0 / version, val_accuracy=0.5 + version / 100,
                         elapsed_s=2.0 * version, contributions=contributions,
                         transaction={"hash": "0x" + "cd" * 32, "gas": 120_000})
             for result in trained for version in range(1, ROUNDS + 1)), batch_size=5000)
        token, _ = Token.objects.get_or_create(user=user)
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum does soon after a bulk load
        cursor.execute("VACUUM ANALYZE")
    return token.key, live.pk, job_token


def list_load(url: str, token: str, results: int, requests_per_client: int, stop: threading.Event,
              start_at: float, budget_s: float) -> list[float]:
    """CLIENTS concurrent clients walking the pages; the latency of every request (seconds).

    Each client is a process of its own, as the users of a platform are: clients sharing one
    interpreter would wait for each other's turn at its lock and add that wait to the latencies.
    They start together at ``start_at`` (epoch seconds), once all of them are up."""
    context = multiprocessing.get_context("spawn")  # this process runs threads: no fork
    try:
        with ProcessPoolExecutor(CLIENTS, mp_context=context) as pool:
            walks = [pool.submit(walk_pages, url, token, results, index, requests_per_client, start_at,
                                 start_at + budget_s) for index in range(CLIENTS)]
            return [latency for walk in walks for latency in walk.result()]
    finally:
        stop.set()


def walk_pages(url: str, token: str, results: int, index: int, requests_per_client: int, start_at: float,
               end_at: float) -> list[float]:
    """One client (in a process of its own): its pages in its own order, from ``start_at`` on."""
    pages = max(1, -(-results // PAGE))
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    time.sleep(max(0.0, start_at - time.time()))
    latencies = []
    for step in range(requests_per_client):
        if time.time() > end_at:
            break
        offset = ((index + step * 7) % pages) * PAGE
        started = time.perf_counter()
        answer = session.get(f"{url}/api/results/", params={"limit": PAGE, "offset": offset}, timeout=30)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        assert answer.json()["count"] == results + 1
    return latencies


def round_visibility(url: str, token: str, result_id: int, job_token: str, spool: Path, stop: threading.Event,
                     start_at: float, budget_s: float) -> list[float]:
    """Seconds from each round's report being sent (HttpSink, the job token) to the polling client
    receiving it; rounds are recorded every ROUND_INTERVAL_S from ``start_at`` (epoch seconds, when
    the list load starts) until ``stop`` or ROUNDS rounds."""
    time.sleep(max(0.0, start_at - time.time()))
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def poll() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        after = 0
        while not done.is_set() or len(seen) < len(sent):
            answer = session.get(f"{url}/api/results/{result_id}/rounds/", params={"after": after}, timeout=30)
            received = time.monotonic()
            answer.raise_for_status()
            for record in answer.json():
                seen.setdefault(record["version"], received)
                after = max(after, record["version"])
            if done.is_set() and time.monotonic() > deadline + 5:
                break
            time.sleep(UI_POLL_S)

    deadline = time.monotonic() + budget_s
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    sink = HttpSink(f"{url}/api/results/{result_id}/", FileSink(spool, str(result_id), "aggregator"),
                    token=job_token)
    started = time.monotonic()
    for version in range(1, ROUNDS + 1):
        if time.monotonic() > deadline or (stop.is_set() and version > 8):
            break
        sent[version] = time.monotonic()
        sink.progress(RoundReport(version=version, val_loss=1.0 / version, val_accuracy=0.5 + version / 100,
                                  elapsed_s=time.monotonic() - started))
        time.sleep(ROUND_INTERVAL_S)
    done.set()
    poller.join(timeout=15)
    missing = sorted(set(sent) - set(seen))
    assert not missing, f"rounds sent but never returned by the API: {missing}"
    return [seen[version] - sent[version] for version in sent]


def run(results: int, requests_per_client: int, budget_s: float) -> dict[str, float | int | bool]:
    with tempfile.TemporaryDirectory(prefix="kafkaml-platform-api-") as directory, throwaway_database() as dsn:
        run_dir = Path(directory)
        with running_backend(run_dir, dsn) as (url, env):
            started = time.perf_counter()
            token, live, job_token = seed(env, results)
            seeded_s = time.perf_counter() - started
            requests.get(f"{url}/api/results/", headers={"Authorization": f"Token {token}"}, timeout=30)  # warm-up
            stop = threading.Event()
            with ThreadPoolExecutor(2) as pool:
                start_at = time.time() + 3 + CLIENTS * 0.5  # once every client's interpreter has started
                rounds = pool.submit(round_visibility, url, token, live, job_token, run_dir / "spool", stop,
                                     start_at, budget_s)
                listing = pool.submit(list_load, url, token, results, requests_per_client, stop, start_at, budget_s)
                list_latencies, round_latencies = listing.result(), rounds.result()
    return {
        "results": results, "rounds_per_result": ROUNDS, "page_size": PAGE, "clients": CLIENTS,
        "ui_poll_s": UI_POLL_S, "seed_s": round(seeded_s, 2),
        "results_list_requests": len(list_latencies),
        "results_list_p50_ms": round(statistics.median(list_latencies) * 1000, 1),
        "results_list_p95_ms": round(p95(list_latencies) * 1000, 1),
        "rounds_observed": len(round_latencies),
        "round_visible_latency_s_p50": round(statistics.median(round_latencies), 3),
        "round_visible_latency_s_p95": round(p95(round_latencies), 3),
        "quick": results < 1000,
    }


def show(figures: dict[str, float | int | bool]) -> None:
    mode = " (quick: a smoke check, not the benchmark)" if figures["quick"] else ""
    table = Table(title=f"platform API: {figures['results']:,} results × {ROUNDS} rounds, "
                        f"{CLIENTS} clients{mode}")
    for column in ("measure", "p50", "p95", "target (p95)", "samples"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row(f"results list, page of {PAGE} (ms)", f"{figures['results_list_p50_ms']:.1f}",
                  f"{figures['results_list_p95_ms']:.1f}", f"≤ {TARGETS['results_list_p95_ms']:.0f}",
                  str(figures["results_list_requests"]))
    table.add_row(f"round visible, UI polling every {UI_POLL_S} s (s)", f"{figures['round_visible_latency_s_p50']:.3f}",
                  f"{figures['round_visible_latency_s_p95']:.3f}", f"≤ {TARGETS['round_visible_latency_s_p95']:.0f}",
                  str(figures["rounds_observed"]))
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (one flat object)")
    parser.add_argument("--quick", action="store_true", help="100 results and fewer requests: a smoke check")
    args = parser.parse_args()
    if args.quick:
        figures = run(results=100, requests_per_client=10, budget_s=30)
    else:
        figures = run(results=1000, requests_per_client=40, budget_s=120)
    show(figures)
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
