"""Shared helpers of the federated benchmarks: a private stack, one measured run, its timings.

Both ``coordination_overhead.py`` and ``paper_experiments.py`` drive the engine the way
``kafkaml train`` does (``kafkaml.local.train``), on a stack of their own in a temporary
directory so they never disturb the user's default stack or another benchmark's.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _signals import sigterm_exits

from kafkaml.local import stack as local
from kafkaml.local.train import Run, RunOptions, deploy_token_once, start_run, wait_for_end
from kafkaml.local.train_cli import chain_usage
from kafkaml.workloads import Workload


@contextlib.contextmanager
def private_stack(clients: int) -> Iterator[tuple[local.Stack, Path]]:
    """A fresh local stack (platform + ``clients`` brokers + chain) and a runs directory; torn down after,
    also when the benchmark is stopped with SIGTERM (``_signals``)."""
    with sigterm_exits(), tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as directory:
        run_dir = Path(directory)
        try:
            yield local.up(clients, run_dir / "stack"), run_dir / "trainings"
        finally:
            local.down(run_dir / "stack")


@dataclass
class Measured:
    """One finished training and what the benchmarks read from it."""

    run: Run
    final: dict[str, Any]
    #: Seconds from ``start_run`` (data publishing included) to the aggregator's final report.
    wall_s: float
    rounds: list[dict[str, Any]]
    #: The trainers' progress records (their envelope ``time`` as ``submitted_at``, epoch seconds).
    updates: list[dict[str, Any]]
    #: Transactions and gas of a blockchain run (None in classic mode).
    chain: dict[str, int] | None
    #: CPU seconds (user + system) of the run's jobs, and of the stack's brokers and chain meanwhile:
    #: unlike wall time, hardly affected by other work sharing the machine.
    jobs_cpu_s: float
    stack_cpu_s: float

    @property
    def client_names(self) -> dict[str, str]:
        """Reward/contribution identity (an address in blockchain mode) → ``client-N``."""
        names = {f"client-{i}": f"client-{i}" for i in range(1, self.run.options.clients + 1)}
        if self.run.options.mode == "blockchain":
            names.update({self.run.stack.account(name).address: name for name in list(names)})
        return names


def stack_cpu_s(current: local.Stack) -> float:
    """CPU seconds used so far by the stack's running parts (brokers and chain), from /proc."""
    total = 0
    for part in current.parts:
        try:
            fields = Path(f"/proc/{part.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def epoch_seconds(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time).timestamp()


def envelopes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure_run(current: local.Stack, workload: Workload, options: RunOptions, runs_dir: Path,
                timeout_s: float, on_round: Callable[[dict[str, Any]], None] | None = None) -> Measured:
    """Run one training to its end and collect its records; jobs are stopped if it fails."""
    token = deploy_token_once(current) if options.mode == "blockchain" else None
    stack_before = stack_cpu_s(current)
    started = time.time()
    run = start_run(current, workload, options, runs_dir, token)
    try:
        final = wait_for_end(run, timeout_s, on_round)
    except BaseException:
        run.stop()
        raise
    # The jobs are forks of the warm process, not children of this one: each reports its own.
    cpu = sum(job.cpu_seconds() or 0.0 for job in run.jobs()), stack_cpu_s(current) - stack_before
    finished = epoch_seconds(json.loads(run.final_file.read_text())["time"])
    rounds = [{**envelope["data"], "recorded_at": epoch_seconds(envelope["time"])}
              for envelope in envelopes(run.progress_file)]
    updates = []
    for index in range(1, options.clients + 1):
        for envelope in envelopes(run.directory / f"client-{index}" / "progress.jsonl"):
            if envelope.get("kind") == "progress":
                updates.append({**envelope["data"], "client": f"client-{index}",
                                "submitted_at": epoch_seconds(envelope["time"])})
    chain = chain_usage(current, run.contract_address) if options.mode == "blockchain" else None
    return Measured(run, final, finished - started, rounds, updates, chain, *cpu)


def coordination_latencies(measured: Measured) -> list[float]:
    """Per consumed update: seconds from the trainer's record of its submission (written right
    after the submit returned) to the aggregator's record of the round that consumed it.

    Local training is before the submission, so it is excluded; the queueing behind other
    updates, fetching, screening, aggregation, publishing and recording the round are included.
    """
    submitted = {update["sha256"]: update["submitted_at"] for update in measured.updates}
    return [record["recorded_at"] - submitted[item["sha256"]]
            for record in measured.rounds for item in record["contributions"]
            if item.get("sha256") in submitted]


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
