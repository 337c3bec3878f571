"""Aggregation strategies: each rule against hand-derived values, determinism, robustness, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.rewards import RejectReason
from kafkaml.strategies import (
    STRATEGIES,
    InvalidUpdate,
    Staleness,
    StrategyError,
    Update,
    make_strategy,
    strategy_from_description,
)


def w(*values: float) -> list[np.ndarray]:
    """A one-array model: exact binary fractions, so expectations are exact."""
    return [np.array(values, dtype=np.float32)]


def up(values: list[np.ndarray], samples: int = 1, base: int = 0, base_weights: list[np.ndarray] | None = None) -> Update:
    return Update(values, samples, base, base_weights)


def test_mix_is_the_earlier_half_and_half() -> None:
    assert make_strategy("mix").aggregate(w(0, 2), 7, [up(w(4, 6), base=1)])[0].tolist() == [2, 4]


def test_fedasync_weights_the_update_by_alpha_times_staleness() -> None:
    strategy = make_strategy("fedasync", {"alpha": 0.5, "staleness": "polynomial", "a": 1})
    # t − τ = 1 → s = 1/2 → α_t = 1/4: x ← ¾·x + ¼·y
    assert strategy.aggregate(w(0, 4), 3, [up(w(8, 0), base=2)])[0].tolist() == [2, 3]
    # fresh update: α_t = α = 1/2
    assert strategy.aggregate(w(0, 4), 3, [up(w(8, 0), base=3)])[0].tolist() == [4, 2]


def test_fedavg_weights_updates_by_samples_and_blends_with_server_lr() -> None:
    updates = [up(w(4), samples=1), up(w(8), samples=3)]
    assert make_strategy("fedavg", {"updates": 2}).aggregate(w(1), 0, updates)[0].tolist() == [7]
    # η = ½: x ← ½·1 + ½·7
    assert make_strategy("fedavg", {"updates": 2, "server_lr": 0.5}).aggregate(w(1), 0, updates)[0].tolist() == [4]


def test_fedbuff_applies_staleness_weighted_deltas_from_each_base() -> None:
    updates = [up(w(6), base=0, base_weights=w(8)), up(w(4), base=1, base_weights=w(10))]
    constant = make_strategy("fedbuff", {"updates": 2, "staleness": "constant"})
    # Δ = 2 and 6; x ← 10 − (1/2)·8
    assert constant.aggregate(w(10), 1, updates)[0].tolist() == [6]
    # s = 1/(t−τ+1): weights ½ and 1 → Σ = 1 + 6 = 7; x ← 10 − 3.5
    polynomial = make_strategy("fedbuff", {"updates": 2, "staleness": "polynomial", "a": 1})
    assert polynomial.aggregate(w(10), 1, updates)[0].tolist() == [6.5]


def test_fedbuff_needs_the_base_weights() -> None:
    strategy = make_strategy("fedbuff", {"updates": 1})
    assert strategy.needs_base_weights and not make_strategy("fedasync").needs_base_weights
    strategy.check_update(w(1), 0, up(w(2)))  # screening on arrival works without x_τ
    with pytest.raises(ValueError, match="needs the base weights"):
        strategy.aggregate(w(1), 0, [up(w(2))])
    with pytest.raises(InvalidUpdate) as caught:
        strategy.check_update(w(1), 0, up(w(2), base_weights=w(1, 2)))
    assert caught.value.reason is RejectReason.SHAPE_MISMATCH


def test_median_and_trimmed_mean_per_coordinate() -> None:
    odd = [up(w(1, 9)), up(w(100, 5)), up(w(5, -3))]
    assert make_strategy("median").aggregate(w(0, 0), 0, odd)[0].tolist() == [5, 5]
    even = [up(w(v)) for v in (100, 1, 4, 2)]
    assert make_strategy("median", {"updates": 4}).aggregate(w(0), 0, even)[0].tolist() == [3]
    five = [up(w(v)) for v in (4, 1000, 2, 1, 3)]
    assert make_strategy("trimmed_mean").aggregate(w(0), 0, five)[0].tolist() == [3]
    untrimmed = make_strategy("trimmed_mean", {"updates": 5, "beta": 0.1})  # ⌊0.5⌋ = 0 trimmed
    assert untrimmed.aggregate(w(0), 0, five)[0].tolist() == [202]


def test_staleness_functions() -> None:
    assert Staleness("constant", 0, 0)(50) == 1.0
    assert Staleness("polynomial", 0.5)(3) == 0.5
    hinge = Staleness("hinge", 10.0, 4.0)
    assert [hinge(s) for s in (0, 4, 5, 6)] == [1.0, 1.0, 1 / 11, 1 / 21]
    defaults = make_strategy("fedasync", {"staleness": "hinge"}).params()
    assert defaults == {"alpha": 0.9, "staleness": "hinge", "a": 10.0, "b": 4.0}


def random_model(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_same_inputs_give_identical_bytes(name: str) -> None:
    rng = np.random.default_rng(7)
    strategy = make_strategy(name)
    current = random_model(rng)
    updates = [up(random_model(rng), samples=int(rng.integers(1, 100)), base=int(rng.integers(0, 4)),
                  base_weights=random_model(rng)) for _ in range(strategy.updates_per_round)]
    first, state = strategy.step(current, 3, updates, (), strategy.initial_state(current))
    copies = [Update([a.copy() for a in u.weights], u.samples, u.base_version, [a.copy() for a in u.base_weights])
              for u in updates]
    rebuilt = strategy_from_description(strategy.description_json())
    second, rebuilt_state = rebuilt.step([a.copy() for a in current], 3, copies, (),
                                         rebuilt.initial_state([a.copy() for a in current]))
    assert rebuilt == strategy and rebuilt.description_hash() == strategy.description_hash()
    assert all(a.dtype == np.float32 for a in first)
    assert b"".join(a.tobytes() for a in first) == b"".join(a.tobytes() for a in second)
    assert b"".join(a.tobytes() for a in first) != b"".join(a.tobytes() for a in current)
    assert (state is None) == (rebuilt_state is None) == (not strategy.stateful)
    if state is not None:  # a second round from the carried state: the state is part of what is re-derived
        assert state.digest() == rebuilt_state.digest()
        assert all(a.dtype == np.float32 for a in state.arrays())
        third, after = strategy.step(first, 4, updates, (), state)
        fourth, rebuilt_after = rebuilt.step(second, 4, copies, (), rebuilt_state)
        assert b"".join(a.tobytes() for a in third) == b"".join(a.tobytes() for a in fourth)
        assert after.digest() == rebuilt_after.digest() != state.digest()


@pytest.mark.parametrize(("name", "params"), [("median", {"updates": 5}), ("trimmed_mean", {"updates": 5, "beta": 0.2})])
def test_robust_rules_contain_a_scaled_random_attacker(name: str, params: dict) -> None:
    rng = np.random.default_rng(3)
    truth = random_model(rng)
    honest = [up([a + rng.normal(scale=0.01, size=a.shape).astype(np.float32) for a in truth], samples=10)
              for _ in range(4)]
    attacker = up([(rng.normal(size=a.shape) * 1000).astype(np.float32) for a in truth], samples=10_000)
    updates = honest[:2] + [attacker] + honest[2:]

    def error(result: list[np.ndarray]) -> float:
        return max(float(np.abs(r - t).max()) for r, t in zip(result, truth, strict=True))

    assert error(make_strategy(name, params).aggregate(truth, 0, updates)) < 0.05
    assert error(make_strategy("fedavg", {"updates": 5}).aggregate(truth, 0, updates)) > 10  # the unprotected rule


@pytest.mark.parametrize(
    ("weights", "reason"),
    [
        (w(1, 2, 3), RejectReason.SHAPE_MISMATCH),
        (w(1, 2) + w(3), RejectReason.SHAPE_MISMATCH),
        ([np.array([1, 2], dtype=np.float64)], RejectReason.DTYPE_MISMATCH),
        ([[1.0, 2.0]], RejectReason.DTYPE_MISMATCH),
        (w(1, float("nan")), RejectReason.NON_FINITE),
        (w(float("inf"), 0), RejectReason.NON_FINITE),
    ],
)
def test_malformed_updates_are_typed_rejections(weights: list, reason: RejectReason) -> None:
    strategy = make_strategy("fedavg", {"updates": 2})
    with pytest.raises(InvalidUpdate) as caught:
        strategy.aggregate(w(0, 0), 0, [up(w(1, 1)), up(weights)])
    assert caught.value.reason is reason and caught.value.index == 1


@pytest.mark.parametrize(
    ("update", "reason"),
    [(up(w(1), samples=0), RejectReason.BAD_SAMPLE_COUNT), (up(w(1), samples=True), RejectReason.BAD_SAMPLE_COUNT),
     (up(w(1), base=5), RejectReason.BAD_VERSION), (up(w(1), base=-1), RejectReason.BAD_VERSION)],
)
def test_bad_samples_and_versions_are_rejected(update: Update, reason: RejectReason) -> None:
    with pytest.raises(InvalidUpdate) as caught:
        make_strategy("fedasync").check_update(w(0), 4, update)
    assert caught.value.reason is reason


def test_overflowing_aggregation_is_rejected_not_recorded() -> None:
    strategy = make_strategy("fedbuff", {"updates": 1, "server_lr": 100})
    with pytest.raises(InvalidUpdate) as caught:
        strategy.aggregate(w(0), 0, [up(w(-3e38), base_weights=w(3e38))])
    assert caught.value.reason is RejectReason.NON_FINITE and caught.value.index is None


def test_wrong_number_of_updates_is_an_engine_error() -> None:
    with pytest.raises(ValueError, match="aggregates 3 update"):
        make_strategy("median").aggregate(w(0), 0, [up(w(1))])


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("fedprox", {}, "unknown aggregation strategy 'fedprox'"),
        ("fedasync", {"alpha": 0}, r"'alpha' must be in \(0, 1\]"),
        ("fedasync", {"alpha": 1.5}, r"'alpha' must be in \(0, 1\]"),
        ("fedasync", {"alpha": "0.5"}, "'alpha' must be a number"),
        ("fedasync", {"alpha": float("nan")}, "'alpha' must be a number"),
        ("fedasync", {"staleness": "exp"}, "'staleness' must be one of constant, polynomial, hinge"),
        ("fedasync", {"staleness": "constant", "a": 1}, r"unknown parameter\(s\) a"),
        ("fedasync", {"b": 2}, r"unknown parameter\(s\) b"),
        ("fedasync", {"a": -1}, "'a' must be in"),
        ("fedavg", {"updates": 0}, "'updates' must be in"),
        ("fedavg", {"updates": 2.5}, "'updates' must be an integer"),
        ("fedavg", {"updates": True}, "'updates' must be an integer"),
        ("median", {"server_lr": 2}, "'server_lr' must be in"),
        ("fedbuff", {"server_lr": 0}, "'server_lr' must be in"),
        ("trimmed_mean", {"updates": 2, "beta": 0.5}, "trims all 2 updates"),
        ("mix", {"alpha": 0.3}, r"mix: unknown parameter\(s\) alpha \(allowed: none\)"),
        ("fedavg", [1, 2], "parameters must be a JSON object"),
        ("krum", {"updates": 4, "f": 1}, r"needs more than 2·f \+ 2 = 4 updates per round for f = 1, got updates = 4"),
        ("krum", {"f": -1}, "'f' must be in"),
        ("krum", {"m": 2}, r"krum: unknown parameter\(s\) m"),
        ("multi_krum", {"updates": 5, "f": 1, "m": 5}, "'m' must be at most updates − f = 4, got 5"),
        ("multi_krum", {"m": 0}, "'m' must be in"),
        ("fedavgm", {"momentum": 1}, "'momentum' must be below 1"),
        ("fedavgm", {"server_lr": 11}, "'server_lr' must be in"),
        ("fedadam", {"beta2": 1.0}, "'beta2' must be below 1"),
        ("fedadam", {"tau": 0}, "'tau' must be in"),
        ("fedyogi", {"beta1": 1.5}, "'beta1' must be in"),
        ("fedadagrad", {"beta2": 0.9}, r"fedadagrad: unknown parameter\(s\) beta2"),
    ],
)
def test_bad_parameters_name_the_parameter(name: str, params: object, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        make_strategy(name, params)  # type: ignore[arg-type]


def test_descriptions_are_canonical_and_rebuild_the_strategy() -> None:
    explicit = make_strategy("fedbuff", {"server_lr": 1, "updates": 4, "staleness": "polynomial", "a": 0.5})
    assert explicit.description_json() == make_strategy("fedbuff").description_json()
    assert explicit.description_hash() != make_strategy("fedbuff", {"updates": 5}).description_hash()
    assert len(explicit.description_hash()) == 32
    for bad in ("not json", '{"name": "fedavg"}', '["fedavg", {}]'):
        with pytest.raises(StrategyError):
            strategy_from_description(bad)


def test_fedbuff_takes_the_statistics_as_the_sample_weighted_mean_of_the_updates() -> None:
    # array 0 a parameter, array 1 a statistic: Δ = 2 and 6 step the first, the second is (1·6 + 3·2) / 4
    updates = [up([np.float32([6]), np.float32([6])], samples=1, base=0, base_weights=w(8) * 2),
               up([np.float32([4]), np.float32([2])], samples=3, base=1, base_weights=w(10) * 2)]
    strategy = make_strategy("fedbuff", {"updates": 2, "staleness": "constant"})
    result = strategy.aggregate([np.float32([10]), np.float32([10])], 1, updates, statistics=[1])
    assert [array.tolist() for array in result] == [[6], [3]]
    with pytest.raises(ValueError, match="statistics positions"):
        strategy.aggregate([np.float32([10]), np.float32([10])], 1, updates, statistics=[2])


def test_fedbuff_keeps_a_batch_normalised_model_valid_with_stale_updates() -> None:
    """Real Keras: two clients train one epoch from the genesis (moving variance 1, data variance
    ~0.0001), version 1 is their FedBuff round; two more updates trained from the genesis are then
    a round on version 1, stale by one. Stepping the moving variance by their discounted deltas
    drove it below zero and the loss to NaN; with the statistics averaged it stays a variance."""
    import keras

    from kafkaml.architecture import statistics_positions

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Rescaling(0.01),
                              keras.layers.BatchNormalization(momentum=0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (256, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    statistics = statistics_positions(model)
    assert statistics == (2, 3)  # after gamma and beta: the moving mean and variance
    genesis = model.get_weights()

    def trained(seed: int) -> list[np.ndarray]:
        model.set_weights(genesis)
        part = np.random.default_rng(seed).permutation(256)[:128]
        model.fit(x[part], y[part], batch_size=16, epochs=1, verbose=0)
        return model.get_weights()

    strategy = make_strategy("fedbuff", {"updates": 2})
    first = strategy.aggregate(genesis, 0, [up(trained(s), samples=128, base=0, base_weights=genesis) for s in (1, 2)],
                               statistics)
    second = strategy.aggregate(first, 1, [up(trained(s), samples=128, base=0, base_weights=genesis) for s in (3, 4)],
                                statistics)
    assert (second[3] > 0).all()
    model.set_weights(second)
    assert np.isfinite(model.evaluate(x, y, verbose=0))


def test_the_genesis_metadata_names_the_statistics_in_runs() -> None:
    from kafkaml.weights.codec import (
        META_STATISTICS,
        WeightsFormatError,
        statistics_positions,
        version_metadata,
    )

    genesis = version_metadata("t", 0, (2, 3, 8, 9, 12))
    assert genesis[META_STATISTICS] == "2-3,8-9,12" and statistics_positions(genesis) == (2, 3, 8, 9, 12)
    assert META_STATISTICS not in version_metadata("t", 1, (2, 3)) and META_STATISTICS not in version_metadata("t", 0)
    assert statistics_positions(version_metadata("t", 0)) == ()
    for bad in ("3-2", "x", "4,2", "-1", "2-3,3"):
        with pytest.raises(WeightsFormatError, match="ascending positions"):
            statistics_positions({META_STATISTICS: bad})


def test_krum_takes_the_update_closest_to_its_neighbours() -> None:
    # f = 1 of K = 5: each score sums the K − f − 2 = 2 smallest squared distances to the others.
    # 0: 1 + 4 = 5; 1: 1 + 1 = 2; 2: 1 + 1 = 2; 3: 1 + 4 = 5; 100: 97² + 98². The tie 1 / 2 goes to
    # the earlier update, and Multi-Krum (m = 3) also takes the earlier of the tied 0 and 3.
    updates = [up(w(v)) for v in (0, 1, 2, 3, 100)]
    krum = make_strategy("krum", {"updates": 5, "f": 1})
    assert krum.scores(updates) == [5, 2, 2, 5, 97**2 + 98**2]
    assert krum.selected(updates) == [1]
    assert krum.aggregate(w(50), 0, updates)[0].tolist() == [1]
    multi = make_strategy("multi_krum", {"updates": 5, "f": 1, "m": 3})
    assert multi.selected(updates) == [0, 1, 2]
    assert multi.aggregate(w(50), 0, updates)[0].tolist() == [1]  # (0 + 1 + 2) / 3
    # η = ½ blends as FedAvg: ½·50 + ½·1
    assert make_strategy("krum", {"updates": 5, "server_lr": 0.5}).aggregate(w(50), 0, updates)[0].tolist() == [25.5]


@pytest.mark.parametrize(("name", "params"), [("krum", {"updates": 5, "f": 1}),
                                              ("multi_krum", {"updates": 5, "f": 1, "m": 3})])
def test_krum_keeps_a_thousandfold_attacker_out(name: str, params: dict) -> None:
    rng = np.random.default_rng(3)
    truth = random_model(rng)
    honest = [up([a + rng.normal(scale=0.01, size=a.shape).astype(np.float32) for a in truth], samples=10)
              for _ in range(4)]
    attacker = up([a * np.float32(1000) for a in truth], samples=10_000)  # the honest model, scaled ×1000
    updates = honest[:2] + [attacker] + honest[2:]
    strategy = make_strategy(name, params)
    assert 2 not in strategy.selected(updates)
    result = strategy.aggregate(truth, 0, updates)
    assert max(float(np.abs(r - t).max()) for r, t in zip(result, truth, strict=True)) < 0.05


def two_rounds(name: str, params: dict, first: list[float], second: list[float]) -> tuple[list, list]:
    """The global value and state after each of two rounds of one-coordinate updates from x = 0."""
    strategy = make_strategy(name, params)
    current = w(0)
    state = strategy.initial_state(current)
    results = []
    for version, values in enumerate((first, second)):
        current, state = strategy.step(current, version, [up(w(v)) for v in values], (), state)
        results.append((current[0].tolist(), [a.tolist() for a in state.arrays()]))
    return results


def test_fedavgm_steps_by_server_momentum() -> None:
    # Δ₁ = 4 − 0 → m = ½·0 + 4 = 4, x = 0 + 4; Δ₂ = 5 − 4 = 1 → m = ½·4 + 1 = 3, x = 4 + 3 = 7.
    first, second = two_rounds("fedavgm", {"updates": 2, "momentum": 0.5, "server_lr": 1}, [3, 5], [5, 5])
    assert first == ([4], [[4]]) and second == ([7], [[3]])
    # momentum 0 and η = 1 is FedAvg's average
    assert two_rounds("fedavgm", {"updates": 2, "momentum": 0}, [3, 5], [5, 5])[1][0] == [5]


def test_fedavgm_weights_the_pseudo_gradient_by_samples() -> None:
    strategy = make_strategy("fedavgm", {"updates": 2, "momentum": 0.5})
    current = w(1)
    result, state = strategy.step(current, 0, [up(w(4), samples=1), up(w(8), samples=3)], (),
                                  strategy.initial_state(current))
    assert result[0].tolist() == [7] and state.m[0].tolist() == [6]  # Δ = ¼·3 + ¾·7


def test_fedadagrad_sums_squared_pseudo_gradients() -> None:
    # τ = ¾: v₀ = τ² = 9/16. Δ₁ = 1: m = ½·1, v = 9/16 + 1 = (5/4)², x = ½ / (5/4 + ¾) = ¼.
    # Δ₂ = 3¼ − ¼ = 3: m = ½·½ + ½·3 = 7/4, v = 25/16 + 9 = (13/4)², x = ¼ + (7/4) / (13/4 + ¾) = 11/16.
    params = {"updates": 2, "server_lr": 1, "beta1": 0.5, "tau": 0.75}
    first, second = two_rounds("fedadagrad", params, [1, 1], [3.25, 3.25])
    assert first == ([0.25], [[0.5], [1.5625]])
    assert second == ([0.6875], [[1.75], [10.5625]])


def test_fedadam_and_fedyogi_second_moments() -> None:
    # FedAdam, τ = 1 (v₀ = 1), β₁ = ½, β₂ = ¾, Δ = 1: m = ½, v = ¾·1 + ¼·1 = 1, x = ½ / (1 + 1) = ¼.
    adam = two_rounds("fedadam", {"updates": 2, "server_lr": 1, "beta1": 0.5, "beta2": 0.75, "tau": 1}, [1, 1], [1, 1])
    assert adam[0] == ([0.25], [[0.5], [1]])
    # FedYogi, τ = 1, β₁ = ¼, β₂ = ¼, Δ₁ = 2: m = ¾·2 = 3/2, v = 1 − ¾·4·sign(1 − 4) = 4, x = (3/2) / (2 + 1) = ½.
    # Δ₂ = 3/2 − ½ = 1 < v: v = 4 − ¾·1·sign(4 − 1) = 13/4, m = ¼·(3/2) + ¾·1 = 9/8: v only shrinks additively.
    yogi = two_rounds("fedyogi", {"updates": 2, "server_lr": 1, "beta1": 0.25, "beta2": 0.25, "tau": 1},
                      [2, 2], [1.5, 1.5])
    assert yogi[0] == ([0.5], [[1.5], [4]])
    assert yogi[1][1] == [[1.125], [3.25]]
    # FedAdam from the same first round: v = ¼·1 + ¾·4 = 13/4, an exponential average, not Yogi's step
    adam = two_rounds("fedadam", {"updates": 2, "server_lr": 1, "beta1": 0.25, "beta2": 0.25, "tau": 1},
                      [2, 2], [1.5, 1.5])
    assert adam[0][1] == [[1.5], [3.25]]


def test_server_optimizers_need_their_state_and_leave_it_untouched() -> None:
    strategy = make_strategy("fedadam", {"updates": 1})
    with pytest.raises(ValueError, match="fedadam needs server optimizer state"):
        strategy.aggregate(w(0), 0, [up(w(1))])
    with pytest.raises(ValueError, match="fedavg keeps no server optimizer state"):
        make_strategy("fedavg").step(w(0), 0, [up(w(1))] * 3, (), strategy.initial_state(w(0)))
    state = strategy.initial_state(w(0))
    before = state.digest()
    strategy.step(w(0), 0, [up(w(1))], (), state)
    assert state.digest() == before  # a discarded round leaves the state as it was
    with pytest.raises(InvalidUpdate) as caught:
        strategy.step(w(0), 0, [up(w(1))], (), make_strategy("fedadam").initial_state(w(0, 0)))
    assert caught.value.reason is RejectReason.SHAPE_MISMATCH and "server state" in str(caught.value)


def test_server_optimizers_keep_the_statistics_the_updates_measured() -> None:
    strategy = make_strategy("fedadam", {"updates": 2})
    current = [np.float32([10]), np.float32([10])]
    updates = [up([np.float32([6]), np.float32([6])], samples=1), up([np.float32([4]), np.float32([2])], samples=3)]
    result, _ = strategy.step(current, 0, updates, [1], strategy.initial_state(current))
    assert result[1].tolist() == [3] and result[0].tolist() != [10]


def test_catalogue_lists_the_new_rules_with_their_parameters() -> None:
    from kafkaml.strategies import strategy_catalogue

    listed = {entry["name"]: entry for entry in strategy_catalogue()}
    assert {"krum", "multi_krum", "fedavgm", "fedadagrad", "fedadam", "fedyogi"} <= set(listed)
    dp = ["dp_clip", "dp_noise_multiplier", "dp_delta"]  # differential privacy, off by default
    assert [p["name"] for p in listed["fedadam"]["parameters"]] == ["updates", "server_lr", "beta1", "beta2", "tau", *dp]
    assert [p["name"] for p in listed["fedadagrad"]["parameters"]] == ["updates", "server_lr", "beta1", "tau", *dp]
    assert [p["name"] for p in listed["multi_krum"]["parameters"]] == ["updates", "server_lr", "f", "m"]
    assert all(p["description"] for entry in listed.values() for p in entry["parameters"])
