"""Rewards: measured improvement → integer tokens; rejections with reasons; the earlier tiers."""

from __future__ import annotations

import math

import pytest

from kafkaml.rewards import (
    ONE_TOKEN,
    Measurement,
    RejectReason,
    RewardPolicy,
    Screening,
    parse_token_amount,
    rejected,
    score,
    screen_update,
)

IMPROVEMENT = RewardPolicy("improvement", base=1000 * ONE_TOKEN, reject_ratio=1.5)
TIERED = RewardPolicy("tiered", base=1200, reject_ratio=10.0)


def test_improvement_pays_relative_loss_reduction_times_sample_share() -> None:
    # loss 2.0 → 1.5 is a 25 % improvement; a quarter of the round's samples → 1/16 of the base
    reward = score(IMPROVEMENT, Measurement(2.0, 1.5, samples=10, round_samples=40))
    assert reward.accepted and reward.amount == 1000 * ONE_TOKEN // 16
    assert isinstance(reward.amount, int)


def test_improvement_is_exact_and_rounds_down() -> None:
    reward = score(RewardPolicy(base=10), Measurement(3.0, 2.0, 1, 1))  # 10 × 1/3 = 3.33…
    assert reward.amount == 3
    # 0.1 and 0.3 are not exact binary fractions; the reward is computed from the floats' exact
    # values, by hand: 0.1 = 3602879701896397 / 2^55 and 0.3 = 5404319552844595 / 2^54, so
    # 1 − 0.1/0.3 = 7205759403792793 / 10808639105689190, and with a third of the round's samples
    # 10^21 × 7205759403792793 / 32425917317067570 = 222222222222222211942.38… → rounds down. Decimal
    # arithmetic (2/9 of the base: …222222) or floats (2.2222222222222223e20) would give another number.
    reward = score(IMPROVEMENT, Measurement(0.3, 0.1, 1, 3))
    assert reward.accepted and reward.amount == 222_222_222_222_222_211_942


def test_regression_within_threshold_is_accepted_but_earns_nothing() -> None:
    reward = score(IMPROVEMENT, Measurement(1.0, 1.2, 5, 5))
    assert reward.accepted and reward.amount == 0


def test_regression_beyond_threshold_is_rejected_with_a_reason() -> None:
    reward = score(IMPROVEMENT, Measurement(1.0, 1.6, 5, 5))
    assert not reward.accepted and reward.amount == 0
    assert reward.reason is RejectReason.WORSE_THAN_THRESHOLD and "1.6" in reward.detail


def test_diverged_model_is_rejected_as_non_finite() -> None:
    for loss in (float("nan"), float("inf")):
        reward = score(IMPROVEMENT, Measurement(1.0, loss, 5, 5))
        assert reward.reason is RejectReason.NON_FINITE and reward.amount == 0


def test_rejections_before_measurement_pay_zero_and_keep_their_reason() -> None:
    reward = rejected(RejectReason.HASH_MISMATCH, "sha256 differs")
    assert (reward.amount, reward.accepted, reward.reason, reward.detail) == (0, False, "hash_mismatch", "sha256 differs")


@pytest.mark.parametrize(
    ("new_loss", "tier_share"),
    [(0.25, 1), (0.5, 1), (0.6, 0.75), (0.75, 0.75), (0.9, 0.5), (1.0, 0.5), (1.2, 1 / 3), (1.5, 1 / 3), (1.51, 0), (5, 0)],
)
def test_tiered_policy_of_the_earlier_system_with_its_gap_filled(new_loss: float, tier_share: float) -> None:
    reward = score(TIERED, Measurement(1.0, new_loss, 1, 1))
    assert reward.accepted and reward.amount == round(1200 * tier_share)


@pytest.mark.parametrize("policy", [IMPROVEMENT, TIERED, RewardPolicy("improvement", base=7, reject_ratio=1.0)])
def test_a_better_update_never_earns_less(policy: RewardPolicy) -> None:
    losses = [i / 100 for i in range(0, 400)]
    amounts = [score(policy, Measurement(1.3, loss, 3, 7)).amount for loss in losses]
    assert all(better >= worse for better, worse in zip(amounts, amounts[1:], strict=False))
    assert amounts[0] > 0 and amounts[-1] == 0


def test_a_larger_share_never_earns_less() -> None:
    amounts = [score(IMPROVEMENT, Measurement(2.0, 1.0, n, 10)).amount for n in range(1, 11)]
    assert amounts == sorted(amounts) and amounts[-1] == IMPROVEMENT.base // 2


def test_previous_loss_of_zero_cannot_be_improved() -> None:
    assert score(IMPROVEMENT, Measurement(0.0, 0.0, 1, 1)).amount == 0
    assert score(IMPROVEMENT, Measurement(0.0, 0.1, 1, 1)).reason is RejectReason.WORSE_THAN_THRESHOLD


@pytest.mark.parametrize(
    ("measurement", "message"),
    [
        (Measurement(float("nan"), 1.0, 1, 1), "previous_loss"),
        (Measurement(-1.0, 1.0, 1, 1), "previous_loss"),
        (Measurement(1.0, 0.5, 0, 1), "samples"),
        (Measurement(1.0, 0.5, 3, 2), "samples"),
    ],
)
def test_platform_measurement_errors_are_raised_not_paid(measurement: Measurement, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score(IMPROVEMENT, measurement)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": "bonus"}, "reward policy must be one of"), ({"base": -1}, "non-negative integer"),
     ({"base": 1.5}, "non-negative integer"), ({"reject_ratio": 0}, "reject_ratio"),
     ({"reject_ratio": float("inf")}, "reject_ratio")],
)
def test_bad_policies_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RewardPolicy(**kwargs)


def test_token_amounts_parse_exactly() -> None:
    assert parse_token_amount("1") == ONE_TOKEN
    assert parse_token_amount(" 2.5 ") == 2_500_000_000_000_000_000
    assert parse_token_amount("0.000000000000000001") == 1
    for bad in ("abc", "-1", "1e-19", "NaN", "inf"):
        with pytest.raises(ValueError):
            parse_token_amount(bad)


# 1,000 validation samples, previous accuracy 0.5: three standard errors of the difference are
# 3·√((0.25 + a(1 − a)) / 1000) ≈ 0.067 for the accuracies a below.
@pytest.mark.parametrize("loss, accuracy, accepted", [
    (1.5, 0.5, True),     # within the loss ratio: accepted whatever the accuracy
    (1.5, 0.2, True),
    (3.0, 0.56, False),   # 0.06 better, above ln(4)·1.5 = 2.08: within noise (0.0668), no measured gain
    (3.0, 0.60, True),    # 0.10 better: beyond 3 standard errors (0.0668 at 0.5 → 0.6)
    (2.0, 0.44, True),    # ratio 2 but not worse than uninformed × 1.5, accuracy within noise
    (2.0, 0.40, False),   # … unless the accuracy measurably drops
    (2.2, 0.5, False),    # above both the ratio and ln(4)·1.5
])
def test_screening_accepts_a_measured_accuracy_gain_or_a_loss_near_uninformed(loss: float, accuracy: float,
                                                                            accepted: bool) -> None:
    verdict = screen_update(RewardPolicy(), Screening(1.0, loss, 0.5, accuracy, samples=1000, classes=4))
    assert verdict.accepted is accepted and verdict.amount == 0
    if not accepted:
        assert verdict.reason is RejectReason.WORSE_THAN_THRESHOLD and "no measured gain" in verdict.detail


def test_screening_without_accuracy_is_the_loss_ratio() -> None:
    policy = RewardPolicy()
    assert screen_update(policy, Screening(1.0, 1.5)).accepted
    verdict = screen_update(policy, Screening(1.0, 1.6, samples=1000, classes=4))
    assert verdict.reason is RejectReason.WORSE_THAN_THRESHOLD and verdict.detail == "loss ratio 1.6 exceeds 1.5"
    assert screen_update(policy, Screening(1.0, float("nan"))).reason is RejectReason.NON_FINITE
    with pytest.raises(ValueError, match="previous_loss"):
        screen_update(policy, Screening(float("nan"), 1.0))


@pytest.mark.parametrize("step, accepted", [(0.5, True), (10.0, True), (10.5, False), (5000.0, False)])
def test_screening_an_uninformed_model_bounds_the_step_instead(step: float, accepted: bool) -> None:
    """The global model is at chance (0.26 against 1/4, within 3·√(3/16 / 1000) ≈ 0.041): an update
    predicting one class (accuracy 0.25, loss 4 × ln 4) is judged by how far it moves the model."""
    uninformed = math.log(4)
    verdict = screen_update(RewardPolicy(), Screening(uninformed, 4 * uninformed, 0.26, 0.25, samples=1000,
                                                      classes=4, step=step))
    assert verdict.accepted is accepted
    # Once the model is informed (0.40), the same update is a measured harm whatever its step.
    informed = screen_update(RewardPolicy(), Screening(uninformed, 4 * uninformed, 0.40, 0.25, samples=1000,
                                                       classes=4, step=step))
    assert informed.reason is RejectReason.WORSE_THAN_THRESHOLD
