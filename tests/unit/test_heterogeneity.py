"""Simulated heterogeneous clients: the waits each knob asks for and the CLI options that set them
(the trainer's SIMULATED_* settings are tested in test_worker_settings.py and test_job_contract.py).

That the waits really slow a client in a training (fewer rounds per unit time) and really take it
offline is tested end to end in tests/integration/test_heterogeneous_clients.py.
"""

from __future__ import annotations

import argparse

import pytest

from kafkaml.config import ConfigError
from kafkaml.heterogeneity import Heterogeneity
from kafkaml.local.train_cli import heterogeneity_from, options_from, register


def test_the_default_is_off_and_waits_nothing() -> None:
    sleeps: list[float] = []
    default = Heterogeneity()
    assert not default.active
    assert default.slow_down(2.5, sleeps.append) == 0.0
    assert [default.drop_out(n, sleeps.append) for n in range(1, 5)] == [0.0] * 4
    assert sleeps == []


def test_a_slower_client_waits_in_proportion_to_its_training() -> None:
    sleeps: list[float] = []
    four_times = Heterogeneity(slowdown=4.0)
    assert four_times.slow_down(2.5, sleeps.append) == pytest.approx(7.5)
    assert four_times.slow_down(0.1, sleeps.append) == pytest.approx(0.3)
    assert sleeps == pytest.approx([7.5, 0.3])


def test_a_dropout_comes_after_every_nth_update() -> None:
    sleeps: list[float] = []
    flaky = Heterogeneity(dropout_after=3, dropout_s=20.0)
    offline = [flaky.drop_out(n, sleeps.append) for n in range(1, 8)]
    assert offline == [0.0, 0.0, 20.0, 0.0, 0.0, 20.0, 0.0]
    assert sleeps == [20.0, 20.0]


@pytest.mark.parametrize("values", [{"slowdown": 0.5}, {"slowdown": 5000.0}, {"dropout_after": 2},
                                    {"dropout_s": 3.0}, {"dropout_after": -1, "dropout_s": 1.0}])
def test_impossible_behaviours_are_refused(values: dict) -> None:
    with pytest.raises(ValueError):
        Heterogeneity(**values)


def test_kafkaml_train_options_set_chosen_clients() -> None:
    assert heterogeneity_from([], [], 4) == {}
    assert heterogeneity_from(["2=4", "3=4"], ["1=5:12.5"], 4) == {
        1: Heterogeneity(dropout_after=5, dropout_s=12.5), 2: Heterogeneity(4.0), 3: Heterogeneity(4.0)}


@pytest.mark.parametrize(("slow", "dropout", "message"), [
    (["5=4"], [], "CLIENT must be in 1..4"),
    (["two=4"], [], "expected CLIENT=FACTOR"),
    (["1=0.5"], [], "slowdown must be in"),
    ([], ["1=3"], "a dropout needs both"),
    ([], ["1=2.5:10"], "AFTER must be a whole number"),
    ([], ["1=x:10"], "expected CLIENT=AFTER:SECONDS"),
])
def test_bad_train_options_are_a_clear_error(slow: list[str], dropout: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        heterogeneity_from(slow, dropout, 4)


def test_kafkaml_train_passes_the_knobs_to_the_run() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "--clients", "3", "--slow", "3=4", "--dropout", "1=2:5"])
    assert options_from(args).heterogeneity == {1: Heterogeneity(dropout_after=2, dropout_s=5.0),
                                                3: Heterogeneity(slowdown=4.0)}
    assert options_from(parser.parse_args(["train"])).heterogeneity == {}


def test_kafkaml_train_selects_the_papers_algorithm_and_token_tiers() -> None:
    """``kafkaml train`` (and ``kafkaml demo``, which shares its options) reach the paper's rules by name."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    options = options_from(parser.parse_args(["train", "--strategy", "mix", "--reward-policy", "tiered"]))
    assert (options.strategy, options.reward_policy) == ("mix", "tiered")
    assert options_from(parser.parse_args(["train"])).reward_policy == "improvement"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--reward-policy", "generous"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--strategy", "fedbuff"], "fedbuff makes each version from 4 updates, but the training has 2 client"),
    (["--strategy", "fedavg", "--strategy-params", '{"updates": 3}'], "set updates to at most 2"),
    (["--strategy", "fedbuff", "--strategy-params", '{"updates": 0}'], "updates"),
    (["--strategy", "nonesuch"], "unknown aggregation strategy"),
])
def test_kafkaml_train_refuses_a_strategy_whose_rounds_cannot_fill(argv: list[str], message: str) -> None:
    """Each client has one update pending at a time: a round of more updates than clients would
    wait for the stop timeout and close with no version. Refused before anything starts."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with pytest.raises(ConfigError, match=message):
        options_from(parser.parse_args(["train", "--clients", "2", *argv]))
    assert options_from(parser.parse_args(["train", "--clients", "4", "--strategy", "fedbuff"])).strategy == "fedbuff"
