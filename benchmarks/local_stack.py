"""Seconds from ``kafkaml local up`` to every part healthy (target: median under 5 s).

Each repetition brings a fresh stack up in its own run directory (platform broker, N client
brokers, one chain), records the wall time until every readiness check passed, and tears it down.

    .venv/bin/python benchmarks/local_stack.py --clients 3 --repeats 5 --json out/local_stack.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import write_figures
from _signals import sigterm_exits
from rich.console import Console
from rich.table import Table

from kafkaml.local import stack as local


def measure(clients: int) -> float:
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as run_dir:
        started = time.perf_counter()
        local.up(clients, Path(run_dir))
        elapsed = time.perf_counter() - started
        try:
            assert all(item.healthy for item in local.status(Path(run_dir)))
        finally:
            local.down(Path(run_dir))
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()

    samples = [measure(args.clients) for _ in range(args.repeats)]
    figures = {
        "up_to_healthy_s_median": round(statistics.median(samples), 3),
        "up_to_healthy_s_max": round(max(samples), 3),
        "clients": args.clients,
        "repeats": args.repeats,
    }
    table = Table(title=f"local stack: up → all healthy ({args.clients} clients + platform + chain)")
    table.add_column("run")
    table.add_column("seconds", justify="right")
    for index, seconds in enumerate(samples, 1):
        table.add_row(str(index), f"{seconds:.3f}")
    table.add_row("median", f"{figures['up_to_healthy_s_median']:.3f}")
    Console().print(table)
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
