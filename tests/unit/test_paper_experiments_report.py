"""benchmarks/paper_experiments.py's report: the paper's rules and ours side by side, each with its
own keys, gaps and rows, from made-up runs (the runs themselves are the benchmark's)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import paper_experiments
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return paper_experiments


def run(accuracy: float, seconds: float, tokens: float, chain: bool) -> dict:
    test = {"accuracy": accuracy, "accuracy_snr_ge_10": accuracy + 0.05, "accuracy_snr_le_minus5": accuracy - 0.2,
            "accuracy_by_snr": {}}
    return {"rounds": [{"version": v, "val_accuracy": accuracy * v / 3, "val_loss": 1.0, "elapsed_s": v}
                       for v in (1, 2, 3)],
            "val_accuracy": accuracy, "training_s": seconds, "wall_s": seconds + 5, "data_epochs_consumed": 2.0,
            "tokens": {"client-1": tokens, "client-8": tokens},
            "chain": {"transactions": 9, "gas": 900_000} if chain else None, "test": test}


def baseline(accuracy: float, epochs: int) -> dict:
    return {"epochs": epochs, "batch": 128, "training_s": 30.0,
            "test": {"accuracy": accuracy, "accuracy_snr_ge_10": 0.99, "accuracy_snr_le_minus5": 0.5}}


def test_both_rules_get_their_own_keys_gaps_and_rows(report, tmp_path):
    results = {
        report.tag(8, "random-split", "classic", "paper"): run(0.70, 50, 1.0, False),
        report.tag(8, "random-split", "blockchain", "paper"): run(0.66, 52, 1.0, True),
        report.tag(8, "random-split", "classic", "ours"): run(0.80, 40, 2.0, False),
        report.tag(8, "random-split", "blockchain", "ours"): run(0.81, 41, 2.0, True),
    }
    shared = baseline(0.85, 4)
    scale = {"samples": 4800, "rounds": 16, "epochs": 2, "batch": 128,
             "clients": {"full-copy": (), "random-split": (8,)},
             "rules": {"paper": {"strategy": "mix", "reward_policy": "tiered", "updates_per_round": 1},
                       "ours": {"strategy": "fedasync", "reward_policy": "improvement", "updates_per_round": 1}}}
    figures = report.flat_figures(results, {"paper": shared, "ours": shared}, scale, "default")
    assert figures["paper_federated8_split_gap_pp"] == pytest.approx(19.0)  # the worse mode: 0.85 − 0.66
    assert figures["ours_federated8_split_gap_pp"] == pytest.approx(5.0)
    assert figures["paper_blockchain_classic_gap_pp"] == pytest.approx(4.0)
    assert figures["ours_blockchain_classic_gap_pp"] == pytest.approx(1.0)
    assert (figures["paper_strategy"], figures["paper_reward_policy"]) == ("mix", "tiered")
    assert figures["paper_blockchain_random_split_8c_transactions"] == 9
    assert "paper_centralised_accuracy" not in figures  # one matched baseline serves both
    rows = report.markdown_table(results, {"paper": shared, "ours": shared}).splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["paper", "paper", "ours", "ours", "paper", "ours"]
    plots = report.plot_figures(results, (8,), tmp_path)
    assert [p.name for p in plots] == ["paper_accuracy_per_round.png", "paper_training_time.png",
                                       "paper_tokens_per_client.png"]
    assert all(p.stat().st_size > 5_000 for p in plots)


def test_a_rule_that_consumes_other_data_has_its_own_baseline(report):
    results = {report.tag(8, "random-split", "classic", "ours"): run(0.80, 40, 2.0, False),
               report.tag(8, "random-split", "classic", "paper"): run(0.70, 50, 1.0, False)}
    scale = {"samples": 4800, "rounds": 16, "epochs": 2, "batch": 128,
             "clients": {"full-copy": (), "random-split": (8,)},
             "rules": {"paper": {"strategy": "mix", "reward_policy": "tiered", "updates_per_round": 1},
                       "ours": {"strategy": "fedavg", "reward_policy": "improvement", "updates_per_round": 8}}}
    figures = report.flat_figures(results, {"paper": baseline(0.82, 4), "ours": baseline(0.88, 32)}, scale,
                                  "default")
    assert (figures["centralised_epochs"], figures["centralised_accuracy"]) == (32, 0.88)
    assert (figures["paper_centralised_epochs"], figures["paper_centralised_accuracy"]) == (4, 0.82)
    assert figures["paper_federated8_split_gap_pp"] == pytest.approx(12.0)
    assert figures["ours_federated8_split_gap_pp"] == pytest.approx(8.0)
