"""Simulated heterogeneous clients in real trainings: a slowed client really completes fewer
updates per unit time, and a client that drops out really is away for the stated time.

Real brokers, real TensorFlow on the toy workload, FedAsync (one update per version, each
client with one update in flight), so how many updates each client gets aggregated follows how
fast it is. Local epochs are raised so that training, not coordination, dominates a client's
round: the slowdown multiplies the training time only.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from kafkaml.heterogeneity import Heterogeneity
from kafkaml.local import stack as local
from kafkaml.local.train import Run, RunOptions, start_run, wait_for_end
from kafkaml.workloads import make_workload


def train(stack: local.Stack, tmp_path: Path, **options) -> Run:
    options.setdefault("strategy", "fedasync")
    run_options = RunOptions(clients=2, mode="classic", stop_timeout_s=120.0, **options)
    run = start_run(stack, make_workload("toy", 2, 1200, seed=7, mode="random-split"), run_options, tmp_path)
    try:
        wait_for_end(run, timeout_s=300)
    finally:
        run.stop()
    return run


def submissions(run: Run, client: str) -> list[dict]:
    """The client's own records of its submitted updates, with ``at`` in epoch seconds."""
    lines = (run.directory / client / "progress.jsonl").read_text().splitlines()
    return [{**record["data"], "at": datetime.fromisoformat(record["time"]).timestamp()}
            for record in map(json.loads, lines) if record["kind"] == "progress"]


def consumed_per_client(run: Run) -> dict[str, int]:
    """How many of each client's updates the aggregator's rounds consumed (accepted or not)."""
    counts = {"client-1": 0, "client-2": 0}
    for record in run.rounds_done():
        for contribution in record["contributions"]:
            counts[contribution["client"]] += 1
    return counts


@pytest.mark.timeout(600)
def test_a_four_times_slower_client_completes_markedly_fewer_updates(local_stack: local.Stack,
                                                                      tmp_path: Path) -> None:
    # Enough versions for the slow client's first update (its first fit, with the model's warm-up,
    # waited out four times) to arrive before the fast client alone has made them all.
    run = train(local_stack, tmp_path, rounds=16, epochs=8, heterogeneity={2: Heterogeneity(slowdown=4.0)})
    fast, slow = submissions(run, "client-1"), submissions(run, "client-2")
    # The slowed client waited three times each of its trainings, before submitting; the other never.
    assert all(abs(u["simulated_wait_s"] - 3 * u["fit_s"]) < 0.01 for u in slow), slow
    assert all(u["simulated_wait_s"] == 0 for u in fast)
    # ... so each of its rounds took markedly longer, and fewer of its updates made the versions.
    fast_round = sorted(u["seconds"] for u in fast)[len(fast) // 2]
    slow_round = sorted(u["seconds"] for u in slow)[len(slow) // 2]
    assert slow_round > 2 * fast_round, (fast_round, slow_round)
    counts = consumed_per_client(run)
    assert counts["client-2"] >= 1, "the slow client still contributes"
    assert counts["client-2"] <= 0.5 * counts["client-1"], counts


@pytest.mark.timeout(600)
def test_a_client_that_drops_out_is_away_for_the_stated_time_and_comes_back(local_stack: local.Stack,
                                                                              tmp_path: Path) -> None:
    # Rounds enough that the other client alone cannot finish the training while this one is away
    # (on a fast machine it made 22 versions in 8 s).
    away_s = 5.0
    run = train(local_stack, tmp_path, rounds=60, epochs=2,
                heterogeneity={1: Heterogeneity(dropout_after=2, dropout_s=away_s)})
    flaky = submissions(run, "client-1")
    assert len(flaky) >= 3, "the client came back and trained again"
    left = flaky[1]["at"]  # offline right after its second update
    assert flaky[2]["at"] - left >= away_s
    # Meanwhile the training went on with the other client alone.
    away = [r for r in rounds_with_time(run) if left + 1 < r["at"] < left + away_s]
    assert away, "versions were made while the client was away"
    assert all(c["client"] == "client-2" for r in away for c in r["contributions"]
               if c["sha256"] not in {u["sha256"] for u in flaky[:2]})
    assert consumed_per_client(run)["client-1"] >= 3, "its updates after the dropout were aggregated"


def rounds_with_time(run: Run) -> list[dict]:
    """The aggregator's round records with ``at``, when each was recorded (epoch seconds)."""
    lines = run.progress_file.read_text().splitlines()
    return [{**record["data"], "at": datetime.fromisoformat(record["time"]).timestamp()}
            for record in map(json.loads, lines) if record["kind"] == "progress"]


def test_a_synchronous_round_waits_for_the_slow_client_instead_of_a_fast_clients_second_update(
        local_stack: local.Stack, tmp_path: Path) -> None:
    """FedAvg with K = 2 clients: client 2 goes offline for 25 s after its first update, longer
    than the trainer's RETRAIN_AFTER_MIN_S (15 s). Client 1 must wait for version 2 with its
    update queued rather than train version 1 again: every round holds one update of each client
    (the slow client's share is ½). Before, client 1's second update of version 1 made round 2."""
    run = train(local_stack, tmp_path, rounds=2, strategy_params={"updates": 2},
                heterogeneity={2: Heterogeneity(dropout_after=1, dropout_s=25.0)}, strategy="fedavg")
    rounds = run.rounds_done()
    assert len(rounds) == 2
    for record in rounds:
        accepted = sorted(c["client"] for c in record["contributions"] if c["accepted"])
        assert accepted == ["client-1", "client-2"], record["contributions"]
    assert [s["base_version"] for s in submissions(run, "client-1")] == [0, 1]
