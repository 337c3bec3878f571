"""Web UI: how much JavaScript it ships, and how fast a finished training's page is fully drawn.

Targets (issue 13):

* ``bundle_kb_gzip`` ≤ 300: every JavaScript file of the built app (``frontend/dist/assets``),
  gzipped at level 9 and summed — lazy pages included, not only what the first page loads.
* ``training_page_ready_ms_p95`` ≤ 1,000 ms: from navigation start to the training page of a
  finished 32-round, 8-client blockchain training being fully drawn in headless Chromium (the
  rounds table through v32, the charts' lines, the tokens of all 8 clients; see
  ``frontend/e2e/ready.mjs``), over ``--repetitions`` fresh page loads (HTTP cache kept, as for a
  user coming back to the page).

The page is served by the backend as ``kafkaml local up`` runs it (gunicorn, the built UI) on a
throw-away PostgreSQL database and a real Anvil chain. The training is real on chain — created
by the platform's factory, 8 clients registered, every round 8 submitted updates (one in eight
rejected) and a recorded version, then finished and paid out — so the page's on-chain read
(events and balances) costs what it costs; the backend's records of it (rounds with their hash,
Kafka pointer, updates and transaction) are written through the ORM as the aggregator's reports
would leave them. No TensorFlow runs. ``--quick`` (4 rounds, 3 loads) is a smoke check run by
the test suite.

    .venv/bin/python benchmarks/ui.py --json out/ui.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import p95, write_figures  # noqa: E402
from _signals import sigterm_exits  # noqa: E402
from ledger_gas import digest  # noqa: E402
from platform_api import running_backend, throwaway_database  # noqa: E402

from kafkaml.ledger import AggregatorLedger, PlatformLedger, TrainerLedger, UpdateOutcome, WeightsPointer  # noqa: E402
from kafkaml.local import stack as local  # noqa: E402
from kafkaml.local.accounts import new_account  # noqa: E402
from kafkaml.topics import update_topic  # noqa: E402

DIST = ROOT / "frontend" / "dist"
ROUNDS, QUICK_ROUNDS, CLIENTS = 32, 4, 8
CEILING, REWARD, TOPIC = 3000, 10**17, "kml-weights-bench-ui"
TARGETS = {"bundle_kb_gzip": 300.0, "training_page_ready_ms_p95": 1000.0}


def bundle_kb_gzip() -> tuple[float, int]:
    """Total gzipped size of the built app's JavaScript (KB) and the number of files."""
    scripts = sorted((DIST / "assets").glob("*.js"))
    if not (DIST / "index.html").is_file() or not scripts:
        raise SystemExit("frontend/dist is not built: run `make ui` (or `make setup`) first")
    return sum(len(gzip.compress(path.read_bytes(), 9)) for path in scripts) / 1024, len(scripts)


def record_on_chain(stack: local.Stack, rounds: int) -> tuple[str, list[dict]]:
    """A whole training on the chain; its contract and each round as the aggregator reports it."""
    rpc, admin = stack.chain.address, stack.account("platform").private_key()
    token = PlatformLedger.deploy_token(rpc, admin)
    aggregator = new_account(stack.run_dir / "keys" / "bench-ui-aggregator.key")
    PlatformLedger.fund(rpc, admin, aggregator.address, 10**18)
    address = PlatformLedger.create_training(rpc, admin, token_address=token, aggregator=aggregator.address,
                                     settings_hash=digest("settings"), weights_topic=TOPIC, strategy="fedasync",
                                     rounds=rounds, budget=rounds * CLIENTS * REWARD)
    ledger = AggregatorLedger.open(rpc, address, aggregator.private_key())
    clients = [TrainerLedger.open(rpc, address, stack.account(f"client-{n}").private_key()) for n in range(1, CLIENTS + 1)]
    ledger.register_clients({client.account: CEILING for client in clients})
    ledger.start(digest("genesis"), WeightsPointer(TOPIC, 0, 0, 4), digest("announcement"))
    reports = []
    for version in range(1, rounds + 1):
        contributions, outcomes = [], []
        for index, client in enumerate(clients):
            update = digest("update", version, index)
            pointer = WeightsPointer(update_topic(TOPIC, client.account), 0, 4 * version, 4 * version + 4)
            client.submit_update(version - 1, update, pointer, CEILING)
            rejected = index == CLIENTS - 1
            reward = 0 if rejected else REWARD
            outcomes.append(UpdateOutcome(update, not rejected, reward, "stale" if rejected else ""))
            contributions.append({"client": client.account, "samples": CEILING, "staleness": 0,
                                  "base_version": version - 1, "reward": str(reward), "accepted": not rejected,
                                  "reason": "stale" if rejected else "", "sha256": update.hex()})
        pointer = WeightsPointer(TOPIC, 0, 4 * version, 4 * version + 4)
        ledger.record_round(digest("global", version), pointer, outcomes)
        reports.append({"version": version, "sha256": digest("global", version).hex(), "pointer": pointer.to_json(),
                        "contributions": contributions, "transaction": dict(ledger.last_transaction or {})})
    ledger.finish()
    ledger.pay_rewards()
    return address, reports


def seed(env: dict[str, str], password: str, contract: str, reports: list[dict]) -> int:
    """The finished training in the platform's database, as its aggregator's reports leave it."""
    os.environ.update({name: env[name] for name in ("DJANGO_SETTINGS_MODULE", "KAFKAML_RUN_DIR",
                                                     "BACKEND_SECRET_KEY_FILE", "DATABASE_URL")})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from backend.api.models import Configuration, Deployment, MLModel, RoundRecord, TrainingResult
    from kafkaml.services.registry.models import Datasource

    user = get_user_model().objects.create_user("bench-ui", password=password)
    model = MLModel.objects.create(owner=user, name="rat-cnn", source="x = 1\n", description_json="{}", parameters=74_534,
                                   input_shape=[None, 128, 2], output_shape=[None, 6],
                                   layers=[{"name": "dense", "class_name": "Dense", "parameters": 74_534,
                                            "output_shape": [None, 6]}])
    configuration = Configuration.objects.create(owner=user, name="rat")
    configuration.ml_models.set([model])
    datasource = Datasource.objects.create(
        datasource_id="validation", topic="validation", format="RAW", counts={"validation": 1200}, input_shape=[128, 2],
        classes=6, message={}, sha256="0" * 64, control_topic="bench-ui", control_partition=0, control_offset=0)
    clients = {c["client"]: CEILING for c in reports[0]["contributions"]}
    deployment = Deployment.objects.create(
        owner=user, configuration=configuration, validation_datasource=datasource, coordination="blockchain",
        settings={"rounds": len(reports), "strategy": "fedasync", "epochs": 1, "batch": 128}, clients=clients)
    now = timezone.now()
    result = TrainingResult.objects.create(
        deployment=deployment, ml_model=model, federated_id=f"kml-{uuid.uuid4().hex[:16]}", token_sha256="0" * 64,
        status=TrainingResult.Status.FINISHED, contract_address=contract, started_at=now, finished_at=now,
        model_sha256="e3" * 32,
        final={"metrics": {"val_accuracy": 0.87, "val_loss": 0.41}, "elapsed_s": 330.0, "versions": len(reports),
               "final_sha256": reports[-1]["sha256"]})
    RoundRecord.objects.bulk_create(
        RoundRecord(result=result, val_loss=2.0 / (report["version"] + 1), val_accuracy=0.3 + report["version"] / 60,
                    elapsed_s=10.0 * report["version"], **report)
        for report in reports)
    return result.pk


def page_ready_ms(url: str, password: str, result_id: int, rounds: int, repetitions: int,
                  failure_screenshot: Path) -> list[float]:
    failure_screenshot.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["node", "e2e/ready.mjs", url, "bench-ui", password, str(result_id), str(rounds),
                           str(CLIENTS), str(repetitions), str(failure_screenshot.resolve())],
                          cwd=ROOT / "frontend", capture_output=True, text=True, timeout=60 + 30 * repetitions)
    if done.returncode != 0:
        raise SystemExit(f"the page did not get ready:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["ready_ms"]


def run(rounds: int, repetitions: int, failure_screenshot: Path) -> dict[str, float | int | bool]:
    bundle, files = bundle_kb_gzip()
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="kafkaml-ui-") as directory, throwaway_database() as dsn:
        run_dir = Path(directory)
        stack = local.up(CLIENTS, run_dir / "stack")
        try:
            contract, reports = record_on_chain(stack, rounds)
            with running_backend(run_dir / "platform", dsn, stack) as (url, env):
                if "BACKEND_UI_DIR" not in env:
                    raise SystemExit("the backend serves no UI: build it first (make ui)")
                timings = page_ready_ms(url, password, seed(env, password, contract, reports), rounds, repetitions,
                                        failure_screenshot)
        finally:
            local.down(run_dir / "stack")
    return {"bundle_kb_gzip": round(bundle, 1), "bundle_js_files": files, "rounds": rounds, "clients": CLIENTS,
            "page_loads": len(timings), "training_page_ready_ms_p50": round(statistics.median(timings), 1),
            "training_page_ready_ms_p95": round(p95(timings), 1), "quick": rounds < ROUNDS}


def show(figures: dict[str, float | int | bool]) -> None:
    mode = " (quick: a smoke check, not the benchmark)" if figures["quick"] else ""
    table = Table(title=f"web UI: a finished {figures['rounds']}-round, {CLIENTS}-client blockchain training{mode}")
    for column in ("measure", "value", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row(f"JavaScript, gzipped, all {figures['bundle_js_files']} files (KB)", f"{figures['bundle_kb_gzip']:.1f}",
                  f"≤ {TARGETS['bundle_kb_gzip']:.0f}")
    table.add_row(f"training page fully drawn, p50 of {figures['page_loads']} loads (ms)",
                  f"{figures['training_page_ready_ms_p50']:.0f}", "")
    table.add_row("training page fully drawn, p95 (ms)", f"{figures['training_page_ready_ms_p95']:.0f}",
                  f"≤ {TARGETS['training_page_ready_ms_p95']:.0f}")
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (one flat object)")
    parser.add_argument("--repetitions", type=int, default=30, help="page loads measured (default 30)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds, 3 page loads: a smoke check")
    parser.add_argument("--failure-screenshot", type=Path, default=ROOT / "out" / "ui-ready-timeout.png",
                        help="where a page that never gets drawn is photographed (default out/ui-ready-timeout.png)")
    args = parser.parse_args()
    figures = (run(QUICK_ROUNDS, 3, args.failure_screenshot) if args.quick
               else run(ROUNDS, args.repetitions, args.failure_screenshot))
    show(figures)
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
