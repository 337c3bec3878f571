"""The federated client module's cost: how fast an announcement becomes running trainers, and what
the users' path (REST API, loggers, federated backends) costs against starting the jobs directly.

Targets (issue 12):

* ``announcement_to_trainer_start_s_p95`` ≤ 5 s — from the announcement on the platform's model
  control topic (the Kafka record's timestamp) to each matching client's trainer job running (its
  process started, as the launcher records it), 4 clients, over several deployments;
* ``demo_over_direct_wall_time`` ≤ 1.05 — the same 4-client RAT training through the services
  (deployment created through the REST API until the API says finished) versus ``kafkaml train``'s
  direct path (jobs started by the caller until the aggregator's final report), on one stack, in
  one run, alternating.

The stack (brokers, chain, the platform backend, each client's federated backend and loggers) is
the benchmark's own, in a temporary directory, on 127.0.0.1 only; it is torn down at the end.

    .venv/bin/python benchmarks/client_module.py --json out/client_module.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from _report import write_figures
from _signals import sigterm_exits
from rich.console import Console
from rich.table import Table

from kafkaml.control_topics import read_control
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.local import client as local_client
from kafkaml.local import stack as local
from kafkaml.local.services_run import follow, start
from kafkaml.local.train import RunOptions, publish_workload, start_run, wait_for_end
from kafkaml.messages.kinds import ModelControl
from kafkaml.topics import MODEL_CONTROL_TOPIC
from kafkaml.workloads import make_workload

CLIENTS = 4


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def announcement_time(stack: local.Stack, model_id: str, timeout_s: float = 180) -> float:
    """The Kafka timestamp (s) of the model's announcement on the platform's model control topic
    (waiting for the aggregator job to publish it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in read_control(stack.bootstrap("platform"), MODEL_CONTROL_TOPIC,
                                   expected=ModelControl, idle_timeout_s=0.5):
            if record.message.model_id == model_id:
                return read_timestamp(stack, record.offset)
        time.sleep(0.5)
    raise RuntimeError(f"no announcement of {model_id} within {timeout_s:.0f} s")


def read_timestamp(stack: local.Stack, offset: int) -> float:
    from kafka import TopicPartition

    from kafkaml import kafka

    partition = TopicPartition(MODEL_CONTROL_TOPIC, 0)
    consumer = kafka.assigned_consumer(stack.bootstrap("platform"), [partition])
    try:
        consumer.seek(partition, offset)
        for _ in range(50):
            for record in consumer.poll(timeout_ms=200).get(partition, []):
                if record.offset == offset:
                    return record.timestamp / 1000
    finally:
        consumer.close()
    raise RuntimeError(f"the announcement at offset {offset} cannot be read back")


def trainer_start_times(stack: local.Stack, model_id: str, timeout_s: float = 120) -> list[float]:
    """When each client's trainer for ``model_id`` started (waits until every client has one)."""
    deadline = time.monotonic() + timeout_s
    while True:
        starts = []
        for index in range(1, CLIENTS + 1):
            name = f"client-{index}"
            token = local_client.admin_credentials(local_client.directory(stack, name))["token"]
            url = stack.part(f"{name}-backend").address
            participations = requests.get(f"{url}/api/participations/", params={"limit": 1000}, timeout=10,
                                          headers={"Authorization": f"Token {token}"}).json()["results"]
            jobs = [p["job"] for p in participations if p["model_id"] == model_id and p["job"]]
            statuses = LocalLauncher(stack.run_dir / f"{name}-jobs").status({LABEL_JOB: jobs[0]}) if jobs else []
            if statuses and statuses[0].started_at is not None:
                starts.append(statuses[0].started_at.timestamp())
        if len(starts) == CLIENTS:
            return starts
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(starts)} of {CLIENTS} trainers of {model_id} started")
        time.sleep(0.2)


def measure_matching(stack: local.Stack, repetitions: int) -> list[float]:
    latencies = []
    workload = make_workload("toy", CLIENTS, 2400, seed=5, mode="random-split")
    data = f"match-{datetime.now():%H%M%S}"  # one datasource per client: each deployment matches it
    publish_workload(stack, workload, data)
    for repetition in range(repetitions):
        run = start(stack, workload, name=f"{data}-{repetition}", mode="blockchain", rounds=1, epochs=1, batch=32,
                    strategy="fedasync", strategy_params={}, data=data)
        announced = announcement_time(stack, run.result["federated_id"])
        latencies += [started - announced for started in trainer_start_times(stack, run.result["federated_id"])]
        follow(run, 300, lambda record: None)
    return latencies


def measure_paths(stack: local.Stack, runs_dir: Path, pairs: int, samples: int, rounds: int) -> tuple[list, list]:
    services, direct = [], []
    for pair in range(pairs):
        workload = make_workload("rat", CLIENTS, samples, seed=pair, mode="random-split")
        started = time.monotonic()
        run = start(stack, workload, name=f"path-{pair}-{datetime.now():%H%M%S}", mode="blockchain", rounds=rounds,
                    epochs=1, batch=128, strategy="fedasync", strategy_params={})
        follow(run, 3600, lambda record: None)
        services.append(time.monotonic() - started)
        started = time.monotonic()
        options = RunOptions(clients=CLIENTS, rounds=rounds, mode="blockchain", batch=128, epochs=1, seed=pair)
        training = start_run(stack, workload, options, runs_dir)
        try:
            wait_for_end(training, 3600)
        finally:
            training.stop()
        direct.append(time.monotonic() - started)
    return services, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (one flat object)")
    parser.add_argument("--repetitions", type=int, default=5, help="deployments timed for the matching latency")
    parser.add_argument("--pairs", type=int, default=1, help="services/direct RAT trainings, alternating")
    parser.add_argument("--samples", type=int, default=4800, help="RAT windows shared by the 4 clients")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-clients-") as directory:
        run_dir = Path(directory) / "stack"
        stack = local.up(CLIENTS, run_dir, with_platform=True)
        try:
            latencies = measure_matching(stack, args.repetitions)
            services, direct = measure_paths(stack, Path(directory) / "runs", args.pairs, args.samples, args.rounds)
        finally:
            local.down(run_dir)
    figures: dict[str, Any] = {
        "announcement_to_trainer_start_s_p95": round(p95(latencies), 3),
        "announcement_to_trainer_start_s_median": round(statistics.median(latencies), 3),
        "demo_over_direct_wall_time": round(sum(services) / sum(direct), 3),
        "services_wall_time_s": round(sum(services), 1), "direct_wall_time_s": round(sum(direct), 1),
        "pairs": len(services),
        "clients": CLIENTS, "samples": args.samples, "rounds": args.rounds, "repetitions": args.repetitions,
    }
    table = Table(title="federated client module")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row("announcement → trainer running, p95 (median)",
                  f"{figures['announcement_to_trainer_start_s_p95']} s "
                  f"({figures['announcement_to_trainer_start_s_median']} s) over {len(latencies)}", "≤ 5 s")
    table.add_row("services / direct wall time", f"{figures['demo_over_direct_wall_time']} "
                  f"({figures['services_wall_time_s']} s vs {figures['direct_wall_time_s']} s)", "≤ 1.05")
    Console().print(table)
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
