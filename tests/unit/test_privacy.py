"""Central differential privacy: clipping, noise and its seed, the accountant's ε, against values
computed here by hand or independently of the library."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from kafkaml.privacy import epsilon, privacy_spent
from kafkaml.strategies import (
    StrategyError,
    Update,
    make_strategy,
    noise_seed,
    strategy_catalogue,
    strategy_from_description,
)
from training_worker.results import RoundReport


def model(*arrays: list[float]) -> list[np.ndarray]:
    return [np.array(values, np.float32) for values in arrays]


def hashed(weights: list[np.ndarray], samples: int, tag: bytes) -> Update:
    return Update(weights, samples, 0, content_hash=hashlib.sha256(tag).digest())


def test_each_move_is_clipped_over_all_arrays_and_averaged_unweighted() -> None:
    current = model([1, 1], [1])
    # A move of (2, 0 | 4)·… : ‖(4, 0, 3)‖ = 5 > S = 2.5, scaled by ½ to (2, 0, 1.5); (1, 0, 0) is within.
    far = hashed(model([5, 1], [4]), samples=1, tag=b"far")
    near = hashed(model([2, 1], [1]), samples=99, tag=b"near")
    strategy = make_strategy("fedavg", {"updates": 2, "dp_clip": 2.5, "dp_noise_multiplier": 0.0})
    result = strategy.aggregate(current, 0, [far, near])
    # Unweighted mean of the clipped moves, whatever the sample counts: (1.5, 0 | 0.75); x + Δ.
    assert [a.tolist() for a in result] == [[2.5, 1.0], [1.75]]
    assert all(a.dtype == np.float32 for a in result)
    # η = ½ steps half of it.
    half = make_strategy("fedavg", {"updates": 2, "server_lr": 0.5, "dp_clip": 2.5, "dp_noise_multiplier": 0.0})
    assert [a.tolist() for a in half.aggregate(current, 0, [far, near])] == [[1.75, 1.0], [1.375]]


def test_the_server_optimizers_step_by_the_clipped_mean() -> None:
    current = model([0, 0])
    updates = [hashed(model([6, 8]), 1, b"a"), hashed(model([0, 1]), 5, b"b")]  # ‖(6, 8)‖ = 10 → (0.6, 0.8)
    strategy = make_strategy("fedavgm", {"updates": 2, "momentum": 0.0, "dp_clip": 1.0, "dp_noise_multiplier": 0.0})
    result, state = strategy.step(current, 0, updates, (), strategy.initial_state(current))
    # Float32 as the rule computes it: the factor S/‖d‖ = 0.1 rounded once, the mean in queue order.
    half = np.float32(0.5)
    expected = half * (np.float32(0.1) * np.array([6, 8], np.float32)) + half * np.array([0, 1], np.float32)
    assert result[0].tobytes() == expected.tobytes() and np.allclose(result[0], [0.3, 0.9])
    assert state.m[0].tobytes() == expected.tobytes()  # β = 0: m is Δ̃


def test_the_noise_has_std_sigma_clip_over_k_and_comes_from_the_public_seed() -> None:
    shape = (400, 500)
    current = [np.zeros(shape, np.float32)]
    tags = [b"u1", b"u2", b"u3", b"u4"]
    updates = [hashed([np.zeros(shape, np.float32)], 10, tag) for tag in tags]  # no move: Δ̃ is the noise
    strategy = make_strategy("fedavg", {"updates": 4, "dp_clip": 2.0, "dp_noise_multiplier": 1.5})
    noise = strategy.aggregate(current, 6, updates)[0]
    # σ·S/K = 1.5 · 2 / 4, the sum's sensitivity S divided by the fixed denominator K.
    assert abs(float(noise.std()) - 0.75) < 0.75 * 0.01 and abs(float(noise.mean())) < 0.01
    # Re-derived by hand from the public data: SHA-256(tag, version 7, the hashes in queue order).
    seed = hashlib.sha256(b"kafkaml/dp-noise/v1" + (7).to_bytes(8, "big")
                          + b"".join(hashlib.sha256(tag).digest() for tag in tags)).digest()
    assert seed == noise_seed(7, [u.content_hash for u in updates])
    expected = (np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big"))).standard_normal(shape)
                * 0.75).astype(np.float32)
    assert noise.tobytes() == expected.tobytes()
    # Another round (or another queue order) draws other noise; the same round the same bytes.
    assert strategy.aggregate(current, 7, updates)[0].tobytes() != noise.tobytes()
    assert strategy.aggregate(current, 6, updates[::-1])[0].tobytes() != noise.tobytes()
    assert strategy.aggregate(current, 6, updates)[0].tobytes() == noise.tobytes()


def test_dp_needs_content_hashes_and_refuses_statistics() -> None:
    strategy = make_strategy("fedavg", {"updates": 1, "dp_clip": 1.0})
    with pytest.raises(ValueError, match="content hash"):
        strategy.aggregate(model([0]), 0, [Update(model([1]), 1, 0)])
    with pytest.raises(ValueError, match="batch"):
        strategy.aggregate(model([0], [1]), 0, [hashed(model([1], [1]), 1, b"x")], statistics=(1,))


@pytest.mark.parametrize(("name", "params", "message"), [
    ("median", {"dp_clip": 1.0}, "available for fedavg and the server optimizers"),
    ("fedasync", {"dp_clip": 1.0}, "available for fedavg"),
    ("fedavg", {"dp_noise_multiplier": 2.0}, "need dp_clip > 0"),
    ("fedavg", {"dp_clip": -1}, "'dp_clip' must be in"),
    ("fedadam", {"dp_clip": 1, "dp_noise_multiplier": -0.5}, "'dp_noise_multiplier' must be in"),
    ("fedavg", {"dp_clip": 1, "dp_delta": 0.5}, "'dp_delta' must be in"),
])
def test_bad_dp_parameters_are_refused_with_a_reason(name: str, params: dict, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        make_strategy(name, params)


def test_dp_is_part_of_the_description_only_when_on() -> None:
    assert make_strategy("fedavg").description_json() == '{"name":"fedavg","params":{"server_lr":1.0,"updates":3}}'
    strategy = make_strategy("fedyogi", {"dp_clip": 0.5})
    description = strategy.description_json()
    assert '"dp_clip":0.5' in description and '"dp_delta":1e-05' in description
    assert '"dp_noise_multiplier":1.0' in description
    assert strategy_from_description(description) == strategy
    assert strategy.description_hash() != make_strategy("fedyogi").description_hash()
    fedavg = next(entry for entry in strategy_catalogue() if entry["name"] == "fedavg")
    listed = {p["name"]: p["default"] for p in fedavg["parameters"]}
    assert (listed["dp_clip"], listed["dp_noise_multiplier"], listed["dp_delta"]) == (0.0, 1.0, 1e-5)
    median = next(entry for entry in strategy_catalogue() if entry["name"] == "median")
    assert not any(p["name"].startswith("dp_") for p in median["parameters"])


def rdp_epsilon(sigma: float, rounds: int, delta: float) -> float:
    """Independently: the Gaussian mechanism's RDP α/(2σ²) composed t times, converted to (ε, δ) by
    Canonne, Kamath and Steinke's bound ε = rdp + log((α−1)/α) − (log δ + log α)/(α − 1), minimised
    over a fine grid of real orders α (the library only tries a fixed list of orders)."""
    orders = np.concatenate([np.linspace(1.001, 20, 200_000), np.linspace(20, 2000, 200_000)])
    rdp = rounds * orders / (2 * sigma**2)
    values = rdp + np.log((orders - 1) / orders) - (math.log(delta) + np.log(orders)) / (orders - 1)
    return float(values.min())


def exact_delta(sigma: float, rounds: int, eps: float) -> float:
    """The tight δ(ε) of t composed Gaussian mechanisms: a Gaussian of μ = √t/σ (Balle and Wang 2018)."""
    mu = math.sqrt(rounds) / sigma
    return float(norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2))


@pytest.mark.parametrize(("sigma", "rounds", "delta"), [(1.1, 5, 1e-5), (1.0, 1, 1e-5), (4.0, 100, 1e-6),
                                                        (0.7, 20, 1e-3)])
def test_epsilon_matches_an_independent_rdp_computation(sigma: float, rounds: int, delta: float) -> None:
    spent = epsilon(sigma, rounds, delta)
    independent = rdp_epsilon(sigma, rounds, delta)
    # The library's orders are a subset of the grid's: never below, and close to the optimum.
    assert independent * (1 - 1e-6) <= spent <= independent * 1.005, (spent, independent)
    # RDP is an upper bound: at the reported ε, the tight δ is no larger than the stated one,
    # and the tight ε is not far below (the conversion's slack).
    assert exact_delta(sigma, rounds, spent) <= delta
    tight = brentq(lambda e: exact_delta(sigma, rounds, e) - delta, 1e-6, spent)
    assert tight <= spent <= 1.5 * tight + 0.5


def test_epsilon_grows_with_rounds_and_is_infinite_without_noise() -> None:
    values = [epsilon(1.0, t, 1e-5) for t in range(0, 6)]
    assert values[0] == 0.0 and all(a < b for a, b in zip(values, values[1:], strict=False))
    assert epsilon(0.0, 3, 1e-5) == math.inf


def test_the_round_report_carries_the_privacy_spent() -> None:
    strategy = make_strategy("fedavg", {"updates": 2, "dp_clip": 2.0, "dp_noise_multiplier": 1.1})
    hashes = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    spent = privacy_spent(strategy.dp, 5, 2, hashes)
    assert spent == {"epsilon": epsilon(1.1, 5, 1e-5), "delta": 1e-5, "noise_multiplier": 1.1, "clip": 2.0,
                     "rounds": 5, "noise_std": 1.1, "seed": noise_seed(5, hashes).hex(), "accountant": "rdp"}
    assert privacy_spent(make_strategy("fedavg", {"dp_clip": 1.0, "dp_noise_multiplier": 0.0}).dp, 1, 3,
                         hashes)["epsilon"] is None
    report = RoundReport(version=5, val_loss=0.1, val_accuracy=0.9, elapsed_s=1.0, privacy=spent).to_json()
    assert report["privacy"] == spent
    assert RoundReport(version=1, val_loss=0.1, val_accuracy=0.9, elapsed_s=1.0).to_json()["privacy"] is None
