"""Side by side with Flower: the same training on the same machine, measured in one run.

The RAT workload with the paper's CNN, the same generated data, seed, random split, rounds,
local epochs, batch size and optimizer (Adam, as the model source compiles it) on both sides:

1. **Synchronous FedAvg, every client every round** (4 clients, 10 rounds by default): Flower
   1.42's ``FedAvg`` through its deployment runtime (one SuperLink, one SuperNode per client,
   ``flwr run``; ``_flower.py``, app in ``benchmarks/flower_app/``) against ours, classic and
   blockchain (``fedavg`` with ``updates`` = clients; the engine's path, data from Kafka). The
   order of the three alternates from pair to pair; ratios are medians of per-pair ratios.
2. **Under stragglers** (8 clients, the last 2 four times slower; for Flower the same wait
   inside its ClientApp): Flower's FedAvg against our asynchronous strategy, each until the same
   target (the centralised CNN's held-out accuracy minus 3 points) or a time cap.

Both sides evaluate every new global model on the same held-out samples (the ones our
aggregator scores on, ``_time_to_target``), timed from the start of the training: ours from the
moment the data are in Kafka and the model built (contract creation, job start-up, imports
included), Flower's from ``flwr run`` with the federation already up (app upload, ServerApp and
ClientApp start-up included). Neither side does federated evaluation.

    .venv/bin/python benchmarks/vs_flower.py --json out/vs_flower.json [--quick]

The Flower virtualenv is created under ``out/flower-venv`` on first use (``_flower.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _flower import FlowerUnavailable, federation, flower_venv, run_flower, write_data
from _report import write_figures
from _runs import private_stack
from _time_to_target import (
    Curve,
    Panel,
    centralised_accuracy,
    heldout_set,
    median_ratio,
    plot_panels,
    run_until_target,
    stragglers,
    union,
)
from rich.console import Console
from rich.table import Table

from kafkaml.local.train import RunOptions
from kafkaml.strategies import make_strategy
from kafkaml.workloads import make_workload

SCALES: dict[str, dict[str, Any]] = {
    "default": {"samples": 4800, "clients": 4, "rounds": 10, "epochs": 1, "batch": 32, "pairs": 3,
                "straggler_samples": 9600, "straggler_clients": 8, "slow": 2, "cap_s": 900.0,
                "centralised_epochs": 10, "straggler_pairs": 1},
    "quick": {"samples": 800, "clients": 2, "rounds": 2, "epochs": 1, "batch": 32, "pairs": 1,
              "straggler_samples": 800, "straggler_clients": 4, "slow": 1, "cap_s": 90.0,
              "centralised_epochs": 2, "straggler_pairs": 1},
}
SYSTEMS = ("flower", "classic", "blockchain")
#: The two comparisons can run on their own: the stragglers part alone takes up to its cap twice.
PARTS = ("both", "synchronous", "stragglers")
#: More rounds than a run can make within its cap: straggler runs end at the target or the cap.
ENDLESS_ROUNDS = 100_000
NEVER = float("inf")

console = Console(width=160)


def flower_curve(label: str, started: float, evaluated: list[dict[str, Any]], target: float, cap_s: float,
                 ended: str) -> Curve:
    """Flower's ServerApp record as a curve (round 0, the initial model, is not a version)."""
    curve = Curve(label, target, cap_s, stopped=ended)
    curve.points = [(round(item["time"] - started, 3), item["accuracy"]) for item in evaluated if item["round"] > 0]
    return curve


def wall_s(curve: Curve) -> float | None:
    """Seconds from the training's start to its last version."""
    return curve.points[-1][0] if curve.points else None


def round_s(curve: Curve) -> float | None:
    """Seconds per round once running: first version to last, over the rounds between."""
    if len(curve.points) < 2:
        return None
    return (curve.points[-1][0] - curve.points[0][0]) / (len(curve.points) - 1)


def synchronous_pairs(args, scale, bin_dir: Path, current, runs_dir: Path, heldout, workload,
                      work: Path) -> list[dict[str, Curve]]:
    """Flower vs ours (classic, blockchain): FedAvg, every client every round, order alternating."""
    clients = scale["clients"]
    data = write_data(work / "data-sync", workload.clients, heldout)
    config = {"min-nodes": clients, "local-epochs": scale["epochs"], "batch-size": scale["batch"], "seed": args.seed,
              "data-dir": str(data)}
    pairs = []
    for pair in range(scale["pairs"]):
        runs: dict[str, Curve] = {}
        for system in SYSTEMS if pair % 2 == 0 else SYSTEMS[::-1]:
            label = f"{system} #{pair + 1}"
            console.print(f"[bold]{clients} clients, {scale['rounds']} rounds: {system}[/bold] (pair {pair + 1})")
            if system == "flower":
                with federation(bin_dir, work / f"federation-sync-{pair}", [1.0] * clients) as running:
                    started, evaluated, ended = run_flower(running, config, work / "flower-sync.jsonl",
                                                           scale["rounds"], None, args.timeout, say=console.print)
                runs[system] = flower_curve(label, started, evaluated, NEVER, args.timeout, ended)
            else:
                options = RunOptions(clients=clients, rounds=scale["rounds"], mode=system, strategy="fedavg",
                                     strategy_params={"updates": clients}, epochs=scale["epochs"],
                                     batch=scale["batch"], seed=args.seed)
                runs[system] = run_until_target(current, workload, options, runs_dir, label, NEVER, args.timeout,
                                                say=console.print)
            if runs[system].stopped != "finished" or len(runs[system].points) != scale["rounds"]:
                raise RuntimeError(f"{label} did not complete its {scale['rounds']} rounds: {runs[system].reason}")
        pairs.append(runs)
    return pairs


def straggler_pairs(args, scale, bin_dir: Path, current, runs_dir: Path, heldout, workload, target: float,
                    work: Path) -> list[dict[str, Curve]]:
    """Flower's FedAvg vs our asynchronous strategy with stragglers, each to the target or the cap."""
    clients = scale["straggler_clients"]
    slow = stragglers(clients, scale["slow"], args.slowdown)
    data = write_data(work / "data-stragglers", workload.clients, heldout)
    config = {"min-nodes": clients, "local-epochs": scale["epochs"], "batch-size": scale["batch"], "seed": args.seed,
              "data-dir": str(data)}
    slowdowns = [slow[index].slowdown if index in slow else 1.0 for index in range(1, clients + 1)]
    pairs = []
    for pair in range(scale["straggler_pairs"]):
        runs: dict[str, Curve] = {}
        for system in ("flower", "ours") if pair % 2 == 0 else ("ours", "flower"):
            label = f"{'flower fedavg' if system == 'flower' else 'ours ' + args.ours_strategy} #{pair + 1}"
            console.print(f"[bold]stragglers: {label}[/bold]")
            if system == "flower":
                with federation(bin_dir, work / f"federation-stragglers-{pair}", slowdowns) as running:
                    started, evaluated, ended = run_flower(running, config, work / "flower-stragglers.jsonl",
                                                           ENDLESS_ROUNDS, target, scale["cap_s"], say=console.print)
                runs[system] = flower_curve(label, started, evaluated, target, scale["cap_s"], ended)
            else:
                options = RunOptions(clients=clients, rounds=ENDLESS_ROUNDS, mode="classic",
                                     strategy=args.ours_strategy, strategy_params=args.ours_params,
                                     epochs=scale["epochs"], batch=scale["batch"], seed=args.seed,
                                     stop_timeout_s=max(120.0, scale["cap_s"]),
                                     heterogeneity=slow)
                runs[system] = run_until_target(current, workload, options, runs_dir, label, target, scale["cap_s"],
                                                say=console.print)
        pairs.append(runs)
    return pairs


def figures_of(sync: list[dict[str, Curve]], straggling: list[dict[str, Curve]], centralised: float, target: float,
               scale: dict[str, Any], args) -> dict[str, Any]:
    figures: dict[str, Any] = {"scale": "quick" if args.quick else "default", **scale, "slowdown": args.slowdown,
                               "ours_async_strategy": args.ours_strategy,
                               "ours_async_params": json.dumps(args.ours_params), "flower_version": "1.42",
                               "centralised_accuracy": round(centralised, 4), "target_accuracy": round(target, 4)}
    if sync:
        for mode in ("classic", "blockchain"):
            figures[f"ours_{mode}_over_flower_wall_time"] = median_ratio([(wall_s(p[mode]), wall_s(p["flower"]))
                                                                          for p in sync])
            figures[f"ours_{mode}_over_flower_round_time"] = median_ratio([(round_s(p[mode]), round_s(p["flower"]))
                                                                           for p in sync])
            gaps = [p[mode].final_accuracy - p["flower"].final_accuracy for p in sync]
            figures[f"accuracy_gap_vs_flower_pp_{mode}"] = round(100 * statistics.median(gaps), 2)
        # The worse of our two modes: the target must hold for both.
        figures["accuracy_gap_vs_flower_pp"] = min(figures["accuracy_gap_vs_flower_pp_classic"],
                                                   figures["accuracy_gap_vs_flower_pp_blockchain"])
        for system in SYSTEMS:
            runs = [p[system] for p in sync]
            figures[f"{system}_wall_s_median"] = round(statistics.median(wall_s(run) for run in runs), 2)
            figures[f"{system}_first_version_s_median"] = round(statistics.median(run.points[0][0] for run in runs), 2)
            figures[f"{system}_round_s_median"] = round(statistics.median(round_s(run) or 0.0 for run in runs), 3)
            figures[f"{system}_final_accuracy_median"] = round(statistics.median(run.final_accuracy for run in runs), 4)
        for mode in ("classic", "blockchain"):  # where our time goes (medians of the per-run medians)
            for key in sync[0][mode].breakdown:
                values = [p[mode].breakdown[key] for p in sync if p[mode].breakdown.get(key) is not None]
                figures[f"{mode}_{key}"] = round(float(statistics.median(values)), 3) if values else None
    if straggling:
        figures["stragglers_ours_async_over_flower_time_to_target"] = median_ratio(
            [(p["ours"].time_to_target_s, p["flower"].time_to_target_s) for p in straggling])
        if figures["stragglers_ours_async_over_flower_time_to_target"] is None:
            figures["stragglers_time_to_target_reason"] = "; ".join(
                f"{curve.label}: {curve.reason}" for p in straggling for curve in p.values() if curve.reason)
            # Flower missing the target within the cap still bounds the ratio: ours / cap is above it.
            figures["stragglers_ours_async_over_flower_time_to_target_upper_bound"] = median_ratio(
                [(p["ours"].time_to_target_s, scale["cap_s"] if p["flower"].time_to_target_s is None else None)
                 for p in straggling])
        for system in ("flower", "ours"):
            times = [p[system].time_to_target_s for p in straggling]
            figures[f"stragglers_{system}_time_to_target_s"] = (None if None in times else
                                                                round(float(statistics.median(times)), 2))
            figures[f"stragglers_{system}_final_accuracy"] = round(statistics.median(
                p[system].final_accuracy or 0.0 for p in straggling), 4)
            figures[f"stragglers_{system}_versions"] = int(statistics.median(len(p[system].points)
                                                                            for p in straggling))
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in figures.items()}


def print_tables(sync: list[dict[str, Curve]], straggling: list[dict[str, Curve]]) -> None:
    if sync:
        print_synchronous(sync)
    if straggling:
        print_stragglers(straggling)


def print_synchronous(sync: list[dict[str, Curve]]) -> None:
    table = Table(title="synchronous FedAvg, every client every round")
    for column in ("run", "wall s (to last version)", "first version s", "s per round", "final held-out acc"):
        table.add_column(column, justify="right")
    for pair in sync:
        for curve in pair.values():
            table.add_row(curve.label, f"{wall_s(curve):.1f}", f"{curve.points[0][0]:.1f}",
                          f"{round_s(curve) or 0.0:.2f}", f"{curve.final_accuracy:.4f}")
    console.print(table)


def print_stragglers(straggling: list[dict[str, Curve]]) -> None:
    table = Table(title="under stragglers: time to target")
    for column in ("run", "time to target s", "stopped", "versions", "final held-out acc"):
        table.add_column(column, justify="right")
    for pair in straggling:
        for curve in pair.values():
            ttt = curve.time_to_target_s
            table.add_row(curve.label, "–" if ttt is None else f"{ttt:.1f}", curve.stopped, str(len(curve.points)),
                          "–" if curve.final_accuracy is None else f"{curve.final_accuracy:.4f}")
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="write the flat JSON results here (details beside it)")
    parser.add_argument("--plot", type=Path, default=Path("out/vs_flower.png"), help="PNG of accuracy against wall time")
    parser.add_argument("--quick", action="store_true", help="2 clients × 2 rounds, 4 clients under stragglers with "
                                                             "a 90 s cap: the test suite's scale")
    for key, value in SCALES["default"].items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=None,
                            help=f"override the scale's value (default scale: {value})")
    parser.add_argument("--slowdown", type=float, default=4.0, help="how much slower the stragglers are")
    parser.add_argument("--ours-strategy", default="fedbuff", help="our asynchronous strategy under stragglers")
    parser.add_argument("--ours-params", type=json.loads, default={}, help="its JSON parameters (engine defaults)")
    parser.add_argument("--margin", type=float, default=3.0, help="target = centralised accuracy minus this (points)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per synchronous run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--part", choices=PARTS, default="both",
                        help="run both comparisons, or only one (each writes the keys of its own part)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scale = dict(SCALES["quick" if args.quick else "default"])
    scale.update({key: value for key in scale if (value := getattr(args, key)) is not None})
    make_strategy(args.ours_strategy, args.ours_params)  # bad parameters fail before anything starts
    try:
        bin_dir = flower_venv()
    except FlowerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()

    sync_workload = make_workload("rat", scale["clients"], scale["samples"], args.seed, "random-split")
    straggler_workload = make_workload("rat", scale["straggler_clients"], scale["straggler_samples"], args.seed,
                                       "random-split")
    # Data files, federation logs and Flower's records; kept when something fails, for its logs.
    Path("out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vs-flower-", dir=Path("out").resolve()))
    with private_stack(max(scale["clients"], scale["straggler_clients"])) as (current, runs_dir):
        heldout = heldout_set(current, straggler_workload)  # the validation data depend on the seed only
        sync = ([] if args.part == "stragglers" else
                synchronous_pairs(args, scale, bin_dir, current, runs_dir, heldout, sync_workload, work))
        centralised, seconds = centralised_accuracy(union(straggler_workload), heldout, scale["centralised_epochs"],
                                                    scale["batch"], args.seed)
        target = centralised - args.margin / 100
        console.print(f"centralised {centralised:.4f} after {scale['centralised_epochs']} epochs ({seconds:.0f} s); "
                      f"target {target:.4f}")
        straggling = ([] if args.part == "synchronous" else
                      straggler_pairs(args, scale, bin_dir, current, runs_dir, heldout, straggler_workload, target,
                                      work))

    shutil.rmtree(work)
    figures = figures_of(sync, straggling, centralised, target, scale, args)
    figures["total_s"] = round(time.monotonic() - started, 1)
    panels = [panel for panel in (
        Panel(f"FedAvg, {scale['clients']} clients, {scale['rounds']} rounds, every client every round",
              [curve for pair in sync for curve in pair.values()]),
        Panel(f"{scale['straggler_clients']} clients, {scale['slow']} × {args.slowdown:g} slower",
              [curve for pair in straggling for curve in pair.values()], centralised, target)) if panel.curves]
    figures["plot"] = str(plot_panels(panels, args.plot))
    write_figures(args.json, figures)
    args.json.with_name(args.json.stem + "_detail.json").write_text(json.dumps(
        {"figures": figures, "synchronous": [{k: c.to_json() for k, c in p.items()} for p in sync],
         "stragglers": [{k: c.to_json() for k, c in p.items()} for p in straggling]}, indent=1) + "\n")
    print_tables(sync, straggling)
    for key in ("ours_classic_over_flower_wall_time", "ours_blockchain_over_flower_wall_time",
                "accuracy_gap_vs_flower_pp", "stragglers_ours_async_over_flower_time_to_target", "total_s", "plot"):
        console.print(f"{key}: {figures.get(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
