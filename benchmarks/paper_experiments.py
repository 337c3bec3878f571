"""The paper's experiments on the wireless technology recognition (RAT) workload.

Clients × {full-copy, random-split} × {classic, blockchain}, every configuration on the same
generated data with the same seeds, on one private local stack; the two modes of a configuration
run back to back, in alternating order. Per run: validation accuracy per round (the paper's
Figs. 5 and 8), training time (Figs. 6 and 9), tokens per client (Figs. 7 and 10), transactions
and gas, and the final model's accuracy per SNR on a held-out test set. A centralised CNN
(``rat_centralised.train_cnn``) trained on the same data gives the non-federated baseline.

Every configuration is trained with two sets of rules, side by side (``--rules``): the paper's
(``mix``, its Algorithm 1's ``weightsAverage``: each dequeued update averaged half and half with
the global model; ``tiered``, its fixed token tiers by loss ratio) and ours (``--strategy`` and
``--reward-policy``, by default the engine's: FedAsync and the improvement policy).

Scales: the default finishes within 60 minutes on a 2-core machine (2, 4 and 8 clients × both
splits × both modes × both rules: 24 runs); ``--paper-scale`` is the paper's own (24,000 windows,
32 rounds, 3 local epochs, batch 512); ``--quick`` is a smoke run.

Matching "epochs of data": a global version consumes K updates (K = 1 with FedAsync or mix;
``--strategy fedavg --updates 8`` for synchronous FedAvg over 8 clients), each
trained for E local epochs on a client's share, so after R rounds of an 8-client random split
the global model has consumed R·K·E/8 passes over the dataset. The centralised CNN is trained
for that many epochs (the planned value, rounded); the epochs actually consumed (accepted
updates' samples × E / dataset size) are reported beside it.

    .venv/bin/python benchmarks/paper_experiments.py --json docs/results/paper_experiments.json \
        --out docs/figures [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _report import write_figures
from _runs import Measured, measure_run, private_stack
from rat_centralised import train_cnn
from rich.console import Console
from rich.table import Table

from kafkaml.local.train import RunOptions, TrainingFailed
from kafkaml.rewards import POLICIES
from kafkaml.strategies import STRATEGIES, make_strategy
from kafkaml.usecases.rat.metrics import accuracy_by_snr, accuracy_where
from kafkaml.workloads import Samples, make_workload

MODES = ("classic", "blockchain")
SPLITS = ("full-copy", "random-split")
RULES = ("paper", "ours")
PAPER_RULES = {"strategy": "mix", "reward_policy": "tiered"}
TOKEN = 10**18


#: client counts per split, samples (whole dataset), rounds, local epochs, batch.
#: The paper: batch 512, 3 epochs, 32 rounds. Quick leaves out 4 clients.
SCALES: dict[str, dict[str, Any]] = {
    "default": {"clients": {"full-copy": (2, 4, 8), "random-split": (2, 4, 8)}, "samples": 4800, "rounds": 16,
                "epochs": 2, "batch": 128},
    "paper": {"clients": {"full-copy": (2, 4, 8), "random-split": (2, 4, 8)}, "samples": 24000, "rounds": 32,
              "epochs": 3, "batch": 512},
    "quick": {"clients": {"full-copy": (2, 8), "random-split": (2, 8)}, "samples": 2400, "rounds": 16,
              "epochs": 1, "batch": 64},
}

console = Console(width=220)


def tag(clients: int, split: str, mode: str, rules: str) -> str:
    return f"{rules}_{mode}_{split.replace('-', '_')}_{clients}c"


def test_accuracy(predicted: np.ndarray, test: Samples) -> dict[str, Any]:
    """Overall, SNR ≥ 10 dB, SNR ≤ −5 dB and per-SNR accuracy of predictions on the test set."""
    return {
        "accuracy": float(np.mean(predicted == test.y)),
        "accuracy_snr_ge_10": accuracy_where(test.y, predicted, test.snr_db >= 10),
        "accuracy_snr_le_minus5": accuracy_where(test.y, predicted, test.snr_db <= -5),
        "accuracy_by_snr": {f"{snr:g}": value for snr, value in accuracy_by_snr(test.y, predicted, test.snr_db).items()},
    }


def evaluate_model(model_path: str, test: Samples) -> dict[str, Any]:
    import keras

    keras.backend.clear_session()  # one model at a time in this process
    model = keras.models.load_model(model_path)
    return test_accuracy(np.argmax(model.predict(test.x, batch_size=1024, verbose=0), axis=1), test)


def summarise(measured: Measured, workload_size: int, epochs: int, test: Samples) -> dict[str, Any]:
    """What the figures, the tables and the JSON need from one run."""
    names = measured.client_names
    tokens = {f"client-{i}": 0.0 for i in range(1, measured.run.options.clients + 1)}
    for identity, amount in measured.final.get("rewards", {}).items():
        tokens[names.get(identity, identity)] = int(amount) / TOKEN
    consumed = sum(item["samples"] for record in measured.rounds for item in record["contributions"]
                   if item.get("accepted", True))
    return {
        "rounds": [{"version": r["version"], "val_accuracy": r["val_accuracy"], "val_loss": r["val_loss"],
                    "elapsed_s": r["elapsed_s"]} for r in measured.rounds],
        "val_accuracy": measured.final["metrics"]["val_accuracy"],
        "training_s": measured.final["elapsed_s"],
        "wall_s": round(measured.wall_s, 2),
        "data_epochs_consumed": round(consumed * epochs / workload_size, 3),
        "tokens": tokens,
        "chain": measured.chain,
        "test": evaluate_model(measured.final["model_path"], test),
    }


def plot_figures(results: dict[str, dict[str, Any]], clients: tuple[int, ...], out: Path) -> list[Path]:
    """The paper's three figures, one row per set of rules so that the paper's and ours sit side
    by side: validation accuracy per round, training time, tokens per client."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(clients, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
    styles = {"classic": "--", "blockchain": "-"}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    ran = [(rules, split) for rules in RULES for split in SPLITS
           if any(tag(n, split, m, rules) in results for n in clients for m in MODES)]
    rows = [rules for rules in RULES if any(r == rules for r, _ in ran)]
    splits = [split for split in SPLITS if any(s == split for _, s in ran)]
    width = 0.38

    figure, axes = plt.subplots(len(rows), len(splits), figsize=(5 * len(splits), 3.8 * len(rows)), sharey=True,
                                squeeze=False)
    for (row, rules), (column, split) in itertools.product(enumerate(rows), enumerate(splits)):
        axis = axes[row][column]
        for n, mode in itertools.product(clients, MODES):
            run = results.get(tag(n, split, mode, rules))
            if run:
                axis.plot([r["version"] for r in run["rounds"]], [r["val_accuracy"] for r in run["rounds"]],
                          styles[mode], color=colours[n], label=f"{n} clients, {mode}")
        axis.set(title=f"{rules} rules, {split}: validation accuracy", xlabel="global version", ylabel="accuracy")
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    paths.append(_save(figure, out / "paper_accuracy_per_round.png"))

    figure, axes = plt.subplots(len(rows), len(splits), figsize=(5 * len(splits), 3.8 * len(rows)), sharey=True,
                                squeeze=False)
    for (row, rules), (column, split) in itertools.product(enumerate(rows), enumerate(splits)):
        axis = axes[row][column]
        for offset, mode in zip((-width / 2, width / 2), MODES, strict=True):
            values = [results.get(tag(n, split, mode, rules), {}).get("training_s", np.nan) for n in clients]
            axis.bar(np.arange(len(clients)) + offset, values, width, label=mode,
                     hatch="//" if mode == "classic" else None)
        axis.set(title=f"{rules} rules, {split}: training time", xticks=range(len(clients)),
                 xticklabels=[f"{n} clients" for n in clients], ylabel="seconds")
        axis.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=8)
    paths.append(_save(figure, out / "paper_training_time.png"))

    panels = [(rules, split) for rules in rows for split in splits]
    figure, axes = plt.subplots(len(panels), len(clients), figsize=(3.6 * len(clients), 3 * len(panels)),
                                squeeze=False)
    for (row, (rules, split)), (column, n) in itertools.product(enumerate(panels), enumerate(clients)):
        axis = axes[row][column]
        if not any(tag(n, split, mode, rules) in results for mode in MODES):
            axis.set_visible(False)
            continue
        for offset, mode in zip((-width / 2, width / 2), MODES, strict=True):
            tokens = results.get(tag(n, split, mode, rules), {}).get("tokens", {})
            axis.bar(np.arange(1, n + 1) + offset, [tokens.get(f"client-{i}", 0.0) for i in range(1, n + 1)], width,
                     label=mode, hatch="//" if mode == "classic" else None)
        axis.set(title=f"{rules}, {split}, {n} clients", xlabel="client", ylabel="tokens", xticks=range(1, n + 1))
        axis.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=8)
    paths.append(_save(figure, out / "paper_tokens_per_client.png"))
    return paths


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def markdown_table(results: dict[str, dict[str, Any]], centralised: dict[str, dict[str, Any]]) -> str:
    lines = ["| rules | clients | split | mode | data epochs | val acc | test acc | SNR ≥ 10 | SNR ≤ −5 | training s | "
             "wall s | tokens (sum) | transactions | gas |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, run in results.items():
        rules, mode, rest = key.split("_", 2)
        split, clients = rest.rsplit("_", 1)
        test, chain = run["test"], run["chain"]
        on_chain = f"{chain['transactions']} | {chain['gas']:,}" if chain else "– | –"
        lines.append(f"| {rules} | {clients[:-1]} | {split.replace('_', '-')} | {mode} | "
                     f"{run['data_epochs_consumed']:.2f} | "
                     f"{run['val_accuracy']:.4f} | {test['accuracy']:.4f} | {test['accuracy_snr_ge_10']:.4f} | "
                     f"{test['accuracy_snr_le_minus5']:.4f} | {run['training_s']:.1f} | {run['wall_s']:.1f} | "
                     f"{sum(run['tokens'].values()):.4f} | {on_chain} |")
    for rules, baseline in centralised.items():
        test = baseline["test"]
        lines.append(f"| {rules} | – | centralised | – | {baseline['epochs']} | – | {test['accuracy']:.4f} | "
                     f"{test['accuracy_snr_ge_10']:.4f} | {test['accuracy_snr_le_minus5']:.4f} | "
                     f"{baseline['training_s']:.1f} | – | – | – | – |")
    return "\n".join(lines) + "\n"


def flat_figures(results: dict[str, dict[str, Any]], centralised: dict[str, dict[str, Any]],
                 scale: dict[str, Any], name: str) -> dict[str, Any]:
    """Flat keys; the unprefixed centralised ones are ours' matched-data baseline (the paper's rule
    has its own under ``paper_centralised_*`` when it consumes another amount of data)."""
    headline = centralised.get("ours") or next(iter(centralised.values()))
    test = headline["test"]
    figures: dict[str, Any] = {
        "scale": name, "samples": scale["samples"], "rounds": scale["rounds"], "epochs": scale["epochs"],
        "batch": scale["batch"], "rules": ",".join(scale["rules"]),
        **{f"{rules}_{key}": chosen[key] for rules, chosen in scale["rules"].items()
           for key in ("strategy", "reward_policy", "updates_per_round")},
        **{f"clients_{split.replace('-', '_')}": ",".join(map(str, scale["clients"][split])) for split in SPLITS},
        "centralised_epochs": headline["epochs"],
        "centralised_accuracy": round(test["accuracy"], 4),
        "centralised_accuracy_snr_ge_10": round(test["accuracy_snr_ge_10"], 4),
        "centralised_accuracy_snr_le_minus5": round(test["accuracy_snr_le_minus5"], 4),
    }
    for key, run in results.items():
        figures[f"{key}_test_accuracy"] = round(run["test"]["accuracy"], 4)
        figures[f"{key}_val_accuracy"] = round(run["val_accuracy"], 4)
        figures[f"{key}_training_s"] = run["training_s"]
        figures[f"{key}_data_epochs"] = run["data_epochs_consumed"]
        if run["chain"]:
            figures[f"{key}_transactions"] = run["chain"]["transactions"]
            figures[f"{key}_gas"] = run["chain"]["gas"]
    for rules in scale["rules"]:
        if centralised[rules] is not headline:
            figures[f"{rules}_centralised_epochs"] = centralised[rules]["epochs"]
            figures[f"{rules}_centralised_accuracy"] = round(centralised[rules]["test"]["accuracy"], 4)
        reference = centralised[rules]["test"]
        split8 = [results[tag(8, "random-split", mode, rules)]["test"]["accuracy"] for mode in MODES
                  if tag(8, "random-split", mode, rules) in results]
        if split8:  # the worse of the two modes: the target must hold for both
            figures[f"{rules}_federated8_split_gap_pp"] = round(100 * (reference["accuracy"] - min(split8)), 2)
        gaps = {}
        for split in SPLITS:
            for clients in scale["clients"][split]:
                pair = [results.get(tag(clients, split, mode, rules)) for mode in MODES]
                if all(pair):
                    gaps[f"{split}_{clients}c"] = abs(pair[0]["test"]["accuracy"] - pair[1]["test"]["accuracy"])
        if gaps:
            worst = max(gaps, key=gaps.get)
            figures[f"{rules}_blockchain_classic_gap_pp"] = round(100 * gaps[worst], 2)
            figures[f"{rules}_blockchain_classic_gap_worst_configuration"] = worst
    return figures


def centralised_baseline(whole: Samples, seed: int, epochs: int, batch: int, test: Samples) -> dict[str, Any]:
    """The CNN trained on the whole dataset (the union of the clients' shares) for ``epochs``."""
    predicted, seconds = train_cnn(whole, test, epochs, batch, seed)
    return {"epochs": epochs, "batch": batch, "training_s": round(seconds, 1), "test": test_accuracy(predicted, test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True,
                        help="flat JSON results; the full results (<stem>_detail.json) and the markdown "
                             "table (<stem>.md) are written beside it")
    parser.add_argument("--out", type=Path, default=Path("out/paper_experiments"), help="directory of the PNG plots")
    parser.add_argument("--quick", action="store_true",
                        help="2,400 windows, 16 rounds, 1 epoch, batch 64; 2 and 8 clients × both splits × both "
                             "modes × both rules (16 runs)")
    parser.add_argument("--paper-scale", action="store_true",
                        help="the paper's scale: 24,000 windows, 32 rounds, 3 epochs, batch 512 (hours here)")
    parser.add_argument("--rules", choices=RULES, nargs="+", default=list(RULES),
                        help="train every configuration with these rules: paper (mix + tiered, its Algorithm 1 "
                             "and tiers) and ours (--strategy + --reward-policy); default both, side by side")
    parser.add_argument("--clients", type=int, nargs="+", default=None, help="override the scale's client counts")
    parser.add_argument("--splits", choices=SPLITS, nargs="+", default=None, help="run only these splits")
    parser.add_argument("--samples", type=int, default=None, help="override the scale's dataset size")
    parser.add_argument("--rounds", type=int, default=None, help="override the scale's rounds")
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's local epochs")
    parser.add_argument("--batch", type=int, default=None, help="override the scale's batch size")
    parser.add_argument("--strategy", choices=tuple(STRATEGIES), default="fedasync",
                        help="our rules' aggregation strategy (default fedasync, the engine's)")
    parser.add_argument("--reward-policy", choices=POLICIES, default="improvement",
                        help="our rules' token rule (default improvement, the engine's)")
    parser.add_argument("--updates", type=int, default=None,
                        help="updates per round of a buffered strategy (fedavg, fedbuff, median, trimmed_mean)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds allowed per run")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.quick and args.paper_scale:
        parser.error("--quick and --paper-scale are two different scales: choose one")
    name = "quick" if args.quick else "paper" if args.paper_scale else "default"
    scale = dict(SCALES[name])
    for key in ("clients", "samples", "rounds", "epochs", "batch"):
        if getattr(args, key) is not None:
            scale[key] = getattr(args, key)
    if args.clients is not None:
        scale["clients"] = {split: tuple(sorted(args.clients)) for split in SPLITS}
    if args.splits is not None:
        scale["clients"] = {split: scale["clients"][split] if split in args.splits else () for split in SPLITS}
    clients = tuple(sorted({n for counts in scale["clients"].values() for n in counts}))
    detail_path = args.json.with_name(args.json.stem + "_detail.json")
    args.json.parent.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    # One client with a full copy holds the whole dataset; the test set depends on the seed only.
    baseline = make_workload("rat", 1, scale["samples"], args.seed, "full-copy")
    test = baseline.test
    split_most = max(scale["clients"]["random-split"] or clients)
    ours = {"strategy": args.strategy, "reward_policy": args.reward_policy,
            "strategy_params": {} if args.updates is None else {"updates": args.updates}}
    chosen = {"paper": {**PAPER_RULES, "strategy_params": {}}, "ours": ours}
    scale["rules"] = {rules: chosen[rules] for rules in RULES if rules in args.rules}
    centralised: dict[str, dict[str, Any]] = {}
    by_epochs: dict[int, dict[str, Any]] = {}  # the same matched data is trained once
    for rules, rule_set in scale["rules"].items():
        per_round = make_strategy(rule_set["strategy"], rule_set["strategy_params"]).updates_per_round
        rule_set["updates_per_round"] = per_round
        epochs = max(1, round(scale["rounds"] * per_round * scale["epochs"] / split_most))
        if epochs not in by_epochs:
            console.print(f"centralised baseline: {scale['samples']} windows, {epochs} epochs (= {scale['rounds']} "
                          f"rounds × {per_round} updates × {scale['epochs']} epochs / {split_most} clients)")
            by_epochs[epochs] = centralised_baseline(baseline.clients[0], args.seed, epochs, scale["batch"], test)
            console.print(f"centralised test accuracy {by_epochs[epochs]['test']['accuracy']:.4f}")
        centralised[rules] = by_epochs[epochs]

    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    stop_timeout = 600.0 if args.quick else 3600.0
    with private_stack(max(clients)) as (current, runs_dir):
        configurations = [(split, n, rules) for split in SPLITS for n in scale["clients"][split]
                          for rules in scale["rules"]]
        for position, (split, n, rules) in enumerate(configurations):
            workload = make_workload("rat", n, scale["samples"], args.seed, split)
            rule_set = scale["rules"][rules]
            for mode in MODES if position % 2 == 0 else MODES[::-1]:
                key = tag(n, split, mode, rules)
                options = RunOptions(clients=n, rounds=scale["rounds"], mode=mode, strategy=rule_set["strategy"],
                                     strategy_params=rule_set["strategy_params"], epochs=scale["epochs"],
                                     batch=scale["batch"], seed=args.seed, stop_timeout_s=stop_timeout,
                                     reward_policy=rule_set["reward_policy"])
                console.print(f"[bold]{n} clients, {split}, {mode}, {rules} rules[/bold] "
                              f"({time.monotonic() - started:.0f} s so far)")
                try:
                    measured = measure_run(current, workload, options, runs_dir, args.timeout, on_round=lambda r: console.print(
                        f"  v{r['version']} val_accuracy {r['val_accuracy']:.4f} at {r['elapsed_s']:.0f} s"))
                except TrainingFailed as exc:  # keep the other configurations' results
                    failures[key] = str(exc).splitlines()[0]
                    console.print(f"[red]failed:[/red] {exc}")
                    continue
                results[key] = summarise(measured, scale["samples"], scale["epochs"], test)
                detail_path.write_text(json.dumps({"scale": scale, "centralised": centralised, "runs": results,
                                                   "failures": failures}, indent=1) + "\n")

    plots = plot_figures(results, clients, args.out)
    figures = flat_figures(results, centralised, scale, name)
    figures["total_s"] = round(time.monotonic() - started, 1)
    figures["failed_runs"] = ",".join(failures)
    table = markdown_table(results, centralised)
    args.json.with_suffix(".md").write_text(table)
    write_figures(args.json, figures)

    rich_table = Table(title=f"paper experiments ({name})")
    header = table.splitlines()[0].strip("|").split("|")
    for column in header:
        rich_table.add_column(column.strip(), justify="right")
    for line in table.splitlines()[2:]:
        rich_table.add_row(*[cell.strip() for cell in line.strip("|").split("|")])
    console.print(rich_table)
    for key in ("centralised_accuracy_snr_ge_10", "centralised_accuracy_snr_le_minus5",
                *(f"{rules}_{gap}" for rules in scale["rules"]
                  for gap in ("federated8_split_gap_pp", "blockchain_classic_gap_pp")), "total_s"):
        console.print(f"{key}: {figures.get(key)}")
    console.print("plots: " + ", ".join(map(str, plots)))


if __name__ == "__main__":
    main()
