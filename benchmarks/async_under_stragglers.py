"""Time to a target accuracy with stragglers: synchronous FedAvg vs FedAsync vs FedBuff, side by side.

The RAT workload (the paper's CNN and data generator), 8 clients on a random split, the last 2
of them 4× slower (``kafkaml/heterogeneity.py``: after each local training they wait 3× its
time). In one invocation, on one private stack and the same data:

1. the centralised CNN trained on the union of the clients' shares gives the reference accuracy
   on the held-out set (``_time_to_target``: the samples the aggregator scores every version
   on); the target is that accuracy minus ``--margin`` points;
2. each strategy trains until ``past_target_s`` after its first version at or above the target
   (the time to target), or the time cap; with ``--repeats`` the order of the strategies
   alternates from one repeat to the next;
3. the accuracy of every version against seconds since the training started is plotted, and
   each run's final accuracy is compared with the centralised CNN trained on as many passes
   over the data as the run consumed ("matched data"; one centralised training measured after
   every epoch). A run that stopped at the target would end just above it, 3 points below the
   centralised model by construction: going on past it shows where the run ends up.

Synchronous FedAvg is ``fedavg`` with ``updates`` = clients: each version averages one update per
client, so every round waits for the slowest. No strategy is tuned here: each runs with the
engine's defaults unless ``--strategy-params`` says otherwise.

    .venv/bin/python benchmarks/async_under_stragglers.py --json out/async_under_stragglers.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from _report import write_figures
from _runs import private_stack
from _time_to_target import (
    Curve,
    Panel,
    centralised_accuracy,
    centralised_curve,
    heldout_set,
    median_or_none,
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

#: clients, how many of them slow, samples (whole dataset), local epochs, batch, time cap per run
#: (s, from the training's start: job start-up included), seconds a run goes on past the target,
#: centralised epochs. Quick is the test suite's: 4 clients start faster than 8 on a loaded machine.
SCALES: dict[str, dict[str, Any]] = {
    "default": {"clients": 8, "slow": 2, "samples": 9600, "epochs": 1, "batch": 32, "cap_s": 900.0,
                "past_target_s": 300.0, "centralised_epochs": 10},
    "quick": {"clients": 4, "slow": 1, "samples": 800, "epochs": 1, "batch": 32, "cap_s": 90.0,
              "past_target_s": 0.0, "centralised_epochs": 2},
}
STRATEGIES = ("fedavg", "fedasync", "fedbuff")
#: The synchronous rule; every other strategy compared here is asynchronous.
SYNCHRONOUS = "fedavg"
#: More rounds than any run can make within its cap: runs end at the target or the cap.
ENDLESS_ROUNDS = 100_000

console = Console(width=160)


def strategy_params(name: str, clients: int, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The engine's defaults, except synchronous FedAvg: one update per client and version."""
    params = {"updates": clients} if name == SYNCHRONOUS else {}
    params.update(overrides.get(name, {}))
    make_strategy(name, params)  # refuse bad parameters before anything starts
    return params


def summary(curves: dict[str, list[Curve]], centralised: float, matched: dict[int, float], scale: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    """The flat figures: per strategy, and the issue's three keys."""
    figures: dict[str, Any] = {
        "scale": "quick" if args.quick else "default", "clients": args.clients, "slow_clients": args.slow,
        "slowdown": args.slowdown, "repeats": args.repeats, "mode": args.mode, **scale,
        "centralised_accuracy": round(centralised, 4), "target_accuracy": round(centralised - args.margin / 100, 4),
        "margin_pp": args.margin,
    }
    for name, runs in curves.items():
        times = [curve.time_to_target_s for curve in runs]
        figures[f"{name}_time_to_target_s"] = median_or_none(times)
        if figures[f"{name}_time_to_target_s"] is None:
            figures[f"{name}_time_to_target_reason"] = "; ".join(curve.reason for curve in runs if curve.reason)
        finals = [c.final_accuracy for c in runs]
        figures[f"{name}_final_accuracy"] = median_or_none(finals)
        figures[f"{name}_versions"] = int(statistics.median(len(c.points) for c in runs))
        figures[f"{name}_data_epochs"] = round(statistics.median(c.data_epochs for c in runs), 3)
        figures[f"{name}_rejected_updates"] = int(statistics.median(c.rejected for c in runs))
        for key in runs[0].breakdown:  # where the time goes
            values = [c.breakdown[key] for c in runs if c.breakdown.get(key) is not None]
            figures[f"{name}_{key}"] = float(statistics.median(values)) if values else None
        slow_names = {f"client-{i}" for i in stragglers(args.clients, args.slow, args.slowdown)}
        shares = [sum(c.consumed.get(n, 0) for n in slow_names) / max(1, sum(c.consumed.values())) for c in runs]
        figures[f"{name}_slow_clients_update_share"] = round(statistics.median(shares), 4)
        gaps = [None if c.final_accuracy is None else 100 * (centralised_matched(c, matched) - c.final_accuracy)
                for c in runs]
        figures[f"{name}_gap_to_matched_centralised_pp"] = median_or_none(gaps)
    if "fedbuff" in curves and SYNCHRONOUS in curves:
        figures["fedbuff_over_fedavg_time_to_target"] = median_ratio(
            [(b.time_to_target_s, a.time_to_target_s) for a, b in zip(curves[SYNCHRONOUS], curves["fedbuff"], strict=True)])
        if figures["fedbuff_over_fedavg_time_to_target"] is None:
            figures["fedbuff_over_fedavg_time_to_target_reason"] = "a run of fedavg or fedbuff did not reach the target"
    if SYNCHRONOUS in curves:
        figures["stragglers_fedavg_time_to_target_s"] = figures[f"{SYNCHRONOUS}_time_to_target_s"]
        if figures["stragglers_fedavg_time_to_target_s"] is None:
            figures["stragglers_fedavg_time_to_target_reason"] = figures[f"{SYNCHRONOUS}_time_to_target_reason"]
    measured = [name for name in curves if name != SYNCHRONOUS
                and figures[f"{name}_gap_to_matched_centralised_pp"] is not None]
    if measured:
        best = min(measured, key=lambda name: figures[f"{name}_gap_to_matched_centralised_pp"])
        figures["best_async_split8_gap_pp"] = figures[f"{best}_gap_to_matched_centralised_pp"]
        figures["best_async_strategy"] = best
    elif any(name != SYNCHRONOUS for name in curves):
        figures["best_async_split8_gap_pp"] = None
        figures["best_async_split8_gap_reason"] = "no asynchronous run recorded a version"
    for key, value in list(figures.items()):
        if isinstance(value, float):
            figures[key] = round(value, 4)
    return figures


def centralised_matched(curve: Curve, matched: dict[int, float]) -> float:
    return matched[matched_epochs(curve)]


def matched_epochs(curve: Curve) -> int:
    """Whole passes over the data the run consumed (at least one): the matched centralised training."""
    return max(1, round(curve.data_epochs))


def print_table(curves: dict[str, list[Curve]], matched: dict[int, float], clients: int) -> None:
    table = Table(title="time to target under stragglers")
    for column in ("strategy", "run", "time to target s", "stopped", "versions", "final acc", "data epochs",
                   "matched centralised", "rejected", "updates per client"):
        table.add_column(column, justify="right")
    for name, runs in curves.items():
        for index, curve in enumerate(runs, start=1):
            ttt = f"{curve.time_to_target_s:.1f}" if curve.time_to_target_s is not None else "–"
            final = f"{curve.final_accuracy:.4f}" if curve.final_accuracy is not None else "–"
            per_client = " ".join(str(curve.consumed.get(f"client-{i}", 0)) for i in range(1, clients + 1))
            table.add_row(name, str(index), ttt, curve.stopped, str(len(curve.points)), final, f"{curve.data_epochs:.2f}",
                          f"{centralised_matched(curve, matched):.4f}", str(curve.rejected), per_client)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="write the flat JSON results here (details beside it)")
    parser.add_argument("--plot", type=Path, default=Path("out/async_under_stragglers.png"),
                        help="PNG of held-out accuracy against wall time")
    parser.add_argument("--quick", action="store_true", help="4 clients, 800 windows, a 90 s cap: the test suite's scale")
    parser.add_argument("--slowdown", type=float, default=4.0, help="how much slower they are")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--strategy-params", type=json.loads, default={},
                        help='JSON {"strategy": {params}} replacing the engine defaults (fedavg: updates = clients)')
    parser.add_argument("--repeats", type=int, default=1, help="runs per strategy, the order alternating")
    parser.add_argument("--margin", type=float, default=3.0, help="target = centralised accuracy minus this (points)")
    parser.add_argument("--mode", choices=("classic", "blockchain"), default="classic")
    for key, value in SCALES["default"].items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=None,
                            help=f"override the scale's value (default scale: {value}; slow: the last clients)")
    parser.add_argument("--reject-ratio", type=float, default=RunOptions.reject_ratio,
                        help="screening's loss ratio (the engine's default)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scale = dict(SCALES["quick" if args.quick else "default"])
    scale.update({key: value for key in scale if (value := getattr(args, key)) is not None})
    args.clients, args.slow = scale.pop("clients"), scale.pop("slow")
    if not 0 <= args.slow <= args.clients:
        parser.error("--slow must be between 0 and --clients")
    params = {name: strategy_params(name, args.clients, args.strategy_params) for name in args.strategies}
    started = time.monotonic()

    workload = make_workload("rat", args.clients, scale["samples"], args.seed, "random-split")
    whole = union(workload)
    curves: dict[str, list[Curve]] = {name: [] for name in args.strategies}
    with private_stack(args.clients) as (current, runs_dir):
        heldout = heldout_set(current, workload)
        centralised, centralised_s = centralised_accuracy(whole, heldout, scale["centralised_epochs"], scale["batch"],
                                                          args.seed)
        target = centralised - args.margin / 100
        console.print(f"centralised: {centralised:.4f} on {len(heldout)} held-out windows after "
                      f"{scale['centralised_epochs']} epochs ({centralised_s:.0f} s); target {target:.4f}")
        for repeat in range(args.repeats):
            order = args.strategies if repeat % 2 == 0 else args.strategies[::-1]
            for name in order:
                options = RunOptions(clients=args.clients, rounds=ENDLESS_ROUNDS, mode=args.mode, strategy=name,
                                     strategy_params=params[name], epochs=scale["epochs"], batch=scale["batch"],
                                     seed=args.seed, reject_ratio=args.reject_ratio,
                                     stop_timeout_s=max(120.0, scale["cap_s"]),
                                     heterogeneity=stragglers(args.clients, args.slow, args.slowdown))
                console.print(f"[bold]{name}[/bold] (repeat {repeat + 1}, {time.monotonic() - started:.0f} s so far)")
                curves[name].append(run_until_target(current, workload, options, runs_dir, f"{name} #{repeat + 1}",
                                                     target, scale["cap_s"], say=console.print,
                                                     past_target_s=scale["past_target_s"]))
    # The reference is already the centralised training of its epochs (same data, batch and seed).
    matched = {scale["centralised_epochs"]: centralised}
    needed = {matched_epochs(curve) for runs in curves.values() for curve in runs} - set(matched)
    if needed:
        accuracies = centralised_curve(whole, heldout, max(needed), scale["batch"], args.seed)
        for epochs in sorted(needed):
            matched[epochs] = accuracies[epochs - 1]
            console.print(f"centralised after {epochs} epoch(s) (matched data): {matched[epochs]:.4f}")

    figures = summary(curves, centralised, matched, scale, args)
    figures["total_s"] = round(time.monotonic() - started, 1)
    title = (f"RAT, {args.clients} clients ({args.slow} × {args.slowdown:g} slower), "
             f"{len(heldout)} held-out windows")
    panel = Panel(title, [curve for runs in curves.values() for curve in runs], centralised, target)
    figures["plot"] = str(plot_panels([panel], args.plot))
    write_figures(args.json, figures)
    args.json.with_name(args.json.stem + "_detail.json").write_text(json.dumps(
        {"figures": figures, "centralised_matched": matched, "strategy_params": params,
         "runs": {name: [curve.to_json() for curve in runs] for name, runs in curves.items()}}, indent=1) + "\n")
    print_table(curves, matched, args.clients)
    for key in ("centralised_accuracy", "target_accuracy", "stragglers_fedavg_time_to_target_s",
                "fedbuff_over_fedavg_time_to_target", "best_async_split8_gap_pp", "best_async_strategy", "total_s",
                "plot"):
        console.print(f"{key}: {figures.get(key)}")


if __name__ == "__main__":
    main()
