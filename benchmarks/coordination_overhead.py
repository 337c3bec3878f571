"""Blockchain vs classic coordination: wall time and per-round coordination latency (target ≤ 5%).

The same workload (same data, seeds, rounds and strategy) is trained once in each mode, side by
side on one private local stack, for 2 and 4 clients; the order of the two modes alternates from
one pair to the next so that neither always runs first (warm caches) or under the same load.

- Wall time: ``start_run`` (data publishing included) → the aggregator's final report.
  ``blockchain_over_classic_wall_time`` is the median of the per-pair ratios.
- Coordination latency: per consumed update, the trainer's record of its submission → the
  aggregator's record of the round that consumed it (training excluded; see ``_runs``).
- Round phase: first round recorded → last round recorded, i.e. the steady state without the
  start-up (job start, imports, contract deployment, client registration, announcement);
  ``blockchain_over_classic_round_phase`` is the median of the per-pair ratios.
- CPU seconds of the jobs plus the stack (brokers, chain) per run, a measure of the coordination's
  cost that other work on the machine hardly disturbs; ``blockchain_over_classic_cpu`` is the
  median of the per-pair ratios.

    .venv/bin/python benchmarks/coordination_overhead.py --json docs/results/coordination_overhead.json [--quick]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from _report import write_figures
from _runs import coordination_latencies, measure_run, median, private_stack
from rich.console import Console
from rich.table import Table

from kafkaml.local.train import RunOptions
from kafkaml.workloads import WORKLOADS, make_workload

MODES = ("classic", "blockchain")
SCALES = {  # rounds, pairs per client count
    "default": (20, 3),
    "quick": (6, 1),
}


def quantile(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the flat JSON results here")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and one pair per client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="toy")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=None, help="override the scale's rounds")
    parser.add_argument("--pairs", type=int, default=None, help="override the scale's pairs per client count")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per run")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scale = "quick" if args.quick else "default"
    rounds, pairs = SCALES[scale]
    rounds, pairs = args.rounds or rounds, args.pairs or pairs
    if rounds < 2:
        parser.error("--rounds must be at least 2: the round phase runs from the first to the last round")
    console = Console(width=160)

    rows = []  # (clients, pair, mode, wall_s, aggregator_s, latency median, rounds, cpu_s, round phase s)
    ratios: dict[int, list[float]] = {}
    cpu_ratios: list[float] = []
    phase_ratios: list[float] = []
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    with private_stack(max(args.clients)) as (current, runs_dir):
        for position, clients in enumerate(args.clients):
            workload = make_workload(args.workload, clients, args.samples, args.seed, "random-split")
            for pair in range(pairs):
                order = MODES if (position + pair) % 2 == 0 else MODES[::-1]
                wall, cpu, phase = {}, {}, {}
                for mode in order:
                    options = RunOptions(clients=clients, rounds=rounds, mode=mode, seed=args.seed)
                    measured = measure_run(current, workload, options, runs_dir, args.timeout)
                    run_latencies = coordination_latencies(measured)
                    latencies[mode] += run_latencies
                    wall[mode] = measured.wall_s
                    cpu[mode] = measured.jobs_cpu_s + measured.stack_cpu_s
                    phase[mode] = measured.rounds[-1]["recorded_at"] - measured.rounds[0]["recorded_at"]
                    rows.append((clients, pair + 1, mode, measured.wall_s, measured.final["elapsed_s"],
                                 median(run_latencies), len(measured.rounds), cpu[mode], phase[mode]))
                    console.print(f"{clients} clients, pair {pair + 1}, {mode}: {measured.wall_s:.1f} s, "
                                  f"latency median {median(run_latencies):.3f} s, CPU {cpu[mode]:.1f} s "
                                  f"(jobs {measured.jobs_cpu_s:.1f}, stack {measured.stack_cpu_s:.1f})")
                ratios.setdefault(clients, []).append(wall["blockchain"] / wall["classic"])
                cpu_ratios.append(cpu["blockchain"] / cpu["classic"])
                phase_ratios.append(phase["blockchain"] / phase["classic"])

    all_ratios = [ratio for values in ratios.values() for ratio in values]
    figures: dict[str, float | int | str] = {
        "scale": scale, "workload": args.workload, "samples": args.samples, "rounds": rounds,
        "pairs_per_client_count": pairs, "clients": ",".join(map(str, args.clients)),
        "blockchain_over_classic_wall_time": round(median(all_ratios), 4),
        "coordination_latency_s_median": round(median(latencies["blockchain"]), 4),
        "coordination_latency_s_median_blockchain": round(median(latencies["blockchain"]), 4),
        "coordination_latency_s_median_classic": round(median(latencies["classic"]), 4),
        "coordination_latency_s_max_blockchain": round(max(latencies["blockchain"], default=float("nan")), 4),
        "coordination_latency_s_max_classic": round(max(latencies["classic"], default=float("nan")), 4),
        "coordination_latency_s_p10_blockchain": round(quantile(latencies["blockchain"], 0.1), 4),
        "coordination_latency_s_p10_classic": round(quantile(latencies["classic"], 0.1), 4),
        "blockchain_over_classic_cpu": round(median(cpu_ratios), 4),
        "blockchain_over_classic_round_phase": round(median(phase_ratios), 4),
    }
    for clients, values in ratios.items():
        figures[f"blockchain_over_classic_wall_time_{clients}_clients"] = round(median(values), 4)
    for mode in MODES:
        for clients in args.clients:
            walls = [row[3] for row in rows if row[0] == clients and row[2] == mode]
            figures[f"wall_time_s_median_{mode}_{clients}_clients"] = round(median(walls), 2)
            cpus = [row[7] for row in rows if row[0] == clients and row[2] == mode]
            figures[f"cpu_s_median_{mode}_{clients}_clients"] = round(median(cpus), 2)
            per_round = [row[8] / (rounds - 1) for row in rows if row[0] == clients and row[2] == mode]
            figures[f"round_s_median_{mode}_{clients}_clients"] = round(median(per_round), 3)

    table = Table(title=f"coordination overhead ({args.workload}, {args.samples} samples, {rounds} rounds)")
    for column in ("clients", "pair", "mode", "wall s", "aggregator s", "round phase s", "latency median s",
                   "rounds", "CPU s"):
        table.add_column(column, justify="right")
    for clients, pair, mode, wall_s, aggregator_s, latency, done, cpu_s, phase_s in rows:
        table.add_row(str(clients), str(pair), mode, f"{wall_s:.2f}", f"{aggregator_s:.2f}", f"{phase_s:.2f}",
                      f"{latency:.3f}", str(done), f"{cpu_s:.1f}")
    console.print(table)
    for key, value in figures.items():
        console.print(f"{key}: {value}")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
