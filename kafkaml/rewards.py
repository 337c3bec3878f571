"""Token rewards computed from what the platform measured, and the reasons an update is rejected.

A client is paid for the improvement its update brought to the *platform's* validation loss, never
for metrics it reports about itself. Everything here is a pure function of its inputs with an
integer result (token base units, 18 decimals), computed with exact fractions, so the aggregator,
a restarted aggregator and an auditor always arrive at the same amount.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

TOKEN_DECIMALS = 18
ONE_TOKEN = 10**TOKEN_DECIMALS

#: ``tiered``: (upper bound of the loss ratio, share of the base amount), checked in order.
#: The earlier Kafka-ML paid nothing for ratios in (0.5, 0.75] (a gap in its if-chain) while
#: paying for regressions; we fill the gap with 3/4 so that a better update never earns less.
TIERS: tuple[tuple[Fraction, Fraction], ...] = (
    (Fraction(1, 2), Fraction(1)),
    (Fraction(3, 4), Fraction(3, 4)),
    (Fraction(1), Fraction(1, 2)),
    (Fraction(3, 2), Fraction(1, 3)),
)

POLICIES = ("improvement", "tiered")
#: Tokens for a full improvement by a whole round's data, unless a training says otherwise (REWARD_BASE).
DEFAULT_BASE = "1"

#: What each policy pays, for people choosing one (the UI, ``GET /api/strategies/``).
POLICY_SUMMARIES: dict[str, str] = {
    "improvement": "Pays reward base × the relative reduction of the platform's validation loss × the update's share "
                   "of the round's samples; nothing for an update that made the loss worse.",
    "tiered": "The paper's rule, as the earlier Kafka-ML paid: reward base × a tier of the loss ratio new / old ("
              + ", ".join(f"{share} up to {float(bound):g}" for bound, share in TIERS)
              + ", else 0) × the update's share of the round's samples.",
}


class RejectReason(StrEnum):
    """Why an update earns nothing and is not aggregated; recorded on chain and in the results."""

    HASH_MISMATCH = "hash_mismatch"          # the weights in Kafka are not the ones submitted
    UNREADABLE = "unreadable"                # the weights cannot be fetched, decoded or measured
    SIZE_MISMATCH = "size_mismatch"          # pointer or header announce another size than the model's
    FOREIGN_UPDATE = "foreign_update"        # the payload names another client, base version or training
    DUPLICATE_UPDATE = "duplicate_update"    # its hash was accepted already in this training (a copy)
    SHAPE_MISMATCH = "shape_mismatch"        # layer count or an array shape differs from the model
    DTYPE_MISMATCH = "dtype_mismatch"        # not float32
    NON_FINITE = "non_finite"                # NaN/inf in the weights or in the measured loss
    BAD_SAMPLE_COUNT = "bad_sample_count"    # samples must be a positive integer
    BAD_VERSION = "bad_version"              # base version negative or newer than the current one
    WORSE_THAN_THRESHOLD = "worse_than_threshold"  # fails the screening rule (see screen_update)
    EXCLUDED_CLIENT = "excluded_client"      # the client's updates were rejected too often (exclude_after)


#: Rejections that count against a client's reputation (:attr:`RewardPolicy.exclude_after`): all
#: but an update the platform could not read (its own broker may be at fault) and the exclusion itself.
COUNTED_AGAINST_CLIENT = frozenset(RejectReason) - {RejectReason.UNREADABLE, RejectReason.EXCLUDED_CLIENT}


@dataclass(frozen=True)
class Measurement:
    """What the platform measured for one update of a round.

    ``previous_loss`` is the validation loss of the global model before the round, ``new_loss``
    that of the aggregated model, both on the platform's own validation stream. ``samples`` is the
    update's sample count and ``round_samples`` the sum over the updates aggregated together, so
    ``samples / round_samples`` is the update's share of the round (1 for one-update rounds).
    """

    previous_loss: float
    new_loss: float
    samples: int
    round_samples: int


@dataclass(frozen=True)
class Reward:
    """The verdict on one update: accepted (then ``amount`` ≥ 0) or rejected with a reason."""

    amount: int
    reason: RejectReason | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class RewardPolicy:
    """How measured improvements become tokens.

    ``improvement`` (default) pays ``base × max(0, (old − new) / old) × share``: proportional to
    the relative loss reduction, nothing for a regression. ``tiered`` is the earlier Kafka-ML rule:
    ``base × tier(new / old) × share`` with the :data:`TIERS`. Both reject an update whose loss
    ratio ``new / old`` exceeds ``reject_ratio``. A client whose updates were rejected
    ``exclude_after`` times in the training (:data:`COUNTED_AGAINST_CLIENT`; 0: never) is excluded:
    its later updates are rejected unread.
    """

    name: str = "improvement"
    base: int = ONE_TOKEN
    reject_ratio: float = 1.5
    exclude_after: int = 0

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"reward policy must be one of {', '.join(POLICIES)}, got {self.name!r}")
        if isinstance(self.base, bool) or not isinstance(self.base, int) or self.base < 0:
            raise ValueError(f"reward base must be a non-negative integer of token base units, got {self.base!r}")
        if not (math.isfinite(self.reject_ratio) and self.reject_ratio > 0):
            raise ValueError(f"reward reject_ratio must be a positive finite number, got {self.reject_ratio!r}")
        if isinstance(self.exclude_after, bool) or not isinstance(self.exclude_after, int) or self.exclude_after < 0:
            raise ValueError(f"exclude_after must be a non-negative integer, got {self.exclude_after!r}")

    def excluded(self, rejections: Mapping[str, int]) -> frozenset[str]:
        """The clients (lower case) excluded by their counted rejections so far."""
        if not self.exclude_after:
            return frozenset()
        return frozenset(client.lower() for client, count in rejections.items() if count >= self.exclude_after)


def rejection_counts(verdicts: Iterable[tuple[str, bool, str]]) -> Counter[str]:
    """Each client's rejections that count against it (lower case), from (client, accepted, reason)
    verdicts: what :meth:`RewardPolicy.excluded` decides on, rebuilt from a training's record."""
    counted = {reason.value for reason in COUNTED_AGAINST_CLIENT}
    return Counter(client.lower() for client, accepted, reason in verdicts if not accepted and reason in counted)


def rejected(reason: RejectReason, detail: str = "") -> Reward:
    """A zero reward for an update the engine refused before or after measuring it."""
    return Reward(0, RejectReason(reason), detail)


def score(policy: RewardPolicy, measurement: Measurement) -> Reward:
    """The reward of one update, or its rejection; deterministic integer arithmetic.

    Raises ValueError for measurements the platform itself got wrong (a negative or non-finite
    previous loss, inconsistent sample counts): those are bugs to surface, not clients to blame.
    """
    previous, new = measurement.previous_loss, measurement.new_loss
    if not (math.isfinite(previous) and previous >= 0):
        raise ValueError(f"previous_loss must be finite and non-negative, got {previous!r}")
    if not 0 < measurement.samples <= measurement.round_samples:
        raise ValueError(f"need 0 < samples <= round_samples, got {measurement.samples} and {measurement.round_samples}")
    if not math.isfinite(new):
        return rejected(RejectReason.NON_FINITE, f"validation loss of the aggregated model is {new}")
    ratio = _ratio(Fraction(previous), Fraction(new))
    if ratio > Fraction(policy.reject_ratio):
        return rejected(RejectReason.WORSE_THAN_THRESHOLD,
                        f"loss ratio {float(ratio):.4g} exceeds {policy.reject_ratio:g}")
    share = Fraction(measurement.samples, measurement.round_samples)
    factor = min(Fraction(1), max(Fraction(0), 1 - ratio)) if policy.name == "improvement" else _tier(ratio)
    return Reward(math.floor(policy.base * factor * share))


#: A difference of two validation accuracies counts as measured, not as sampling noise, beyond
#: this many standard errors (one-sided, about 1 in 740 for a difference that is only noise).
SIGNIFICANCE_Z = 3.0
#: While the global model is no better than chance, an update may move it by at most this many
#: times its own norm (‖y − x‖ ≤ 10·‖x‖): honest local training from an initial model moves it
#: by a fraction of that, a scaled random update by orders of magnitude more.
MAX_UNINFORMED_STEP = 10.0


@dataclass(frozen=True)
class Screening:
    """What the platform measured for one update on its validation set, before any aggregation.

    ``previous_*`` are the current global model's loss and accuracy, ``loss`` and ``accuracy``
    the update's own; ``samples`` is the validation set's size and ``classes`` the classifier's
    number of classes (accuracies are None and ``classes`` 0 for a model that is no classifier).
    """

    previous_loss: float
    loss: float
    previous_accuracy: float | None = None
    accuracy: float | None = None
    samples: int = 0
    classes: int = 0
    #: ‖y − x‖ / ‖x‖: how far the update moved the global model, relative to its size.
    step: float = math.inf


def screen_update(policy: RewardPolicy, measured: Screening) -> Reward:
    """Whether an update may be aggregated (an accepted Reward of 0) or is rejected, and why.

    Reject on negative influence, measured on the platform's validation set. An update is
    accepted when its loss is at most ``reject_ratio`` × the global model's. Otherwise, for a
    classifier, it is accepted when its accuracy is higher than the global model's by more than
    :data:`SIGNIFICANCE_Z` standard errors (it measurably helps: the first update trained from a
    genesis that predicts uniformly is over-confident, its loss 1.6–3.8 × the genesis's
    ln(classes), yet it classifies far better), or when its loss is at most ``reject_ratio`` ×
    ln(classes), the loss of predicting uniformly, and its accuracy is not lower by more than
    those standard errors (near a loss of 0 any honest update's loss is a large multiple of the
    global model's). While the global model itself is no better than chance (its accuracy within
    those standard errors of 1/classes), its loss and accuracy are no yardstick: the first
    updates trained from it may predict one class, at chance accuracy and several times its
    loss, and still average into a better model. Then an update is accepted unless it moves the
    model by more than :data:`MAX_UNINFORMED_STEP` times its norm (norm bounding, as Sun et al.
    2019 bound updates against poisoning). A ×1000 random update is rejected in every case: at
    chance accuracy, a loss far above the uninformed one, and a step thousands of times the
    model's norm; so is one that measurably lowers the accuracy of an informed model.
    """
    previous, loss = measured.previous_loss, measured.loss
    if not (math.isfinite(previous) and previous >= 0):
        raise ValueError(f"previous_loss must be finite and non-negative, got {previous!r}")
    if not math.isfinite(loss):
        return rejected(RejectReason.NON_FINITE, f"validation loss of the update is {loss}")
    ratio = _ratio(Fraction(previous), Fraction(loss))
    if ratio <= Fraction(policy.reject_ratio):
        return Reward(0)
    detail = f"loss ratio {float(ratio):.4g} exceeds {policy.reject_ratio:g}"
    before, after = measured.previous_accuracy, measured.accuracy
    if before is None or after is None or measured.samples <= 0 or measured.classes < 2:
        return rejected(RejectReason.WORSE_THAN_THRESHOLD, detail)
    noise = SIGNIFICANCE_Z * math.sqrt((before * (1 - before) + after * (1 - after)) / measured.samples)
    if after - before > noise:
        return Reward(0)
    if loss <= policy.reject_ratio * math.log(measured.classes) and after - before >= -noise:
        return Reward(0)
    chance = 1 / measured.classes
    if (before - chance <= SIGNIFICANCE_Z * math.sqrt(chance * (1 - chance) / measured.samples)
            and measured.step <= MAX_UNINFORMED_STEP):
        return Reward(0)
    return rejected(RejectReason.WORSE_THAN_THRESHOLD,
                    f"{detail}, and accuracy {after:.4f} against {before:.4f} is no measured gain "
                    f"(step {measured.step:.3g} × the model's norm)")


def _ratio(previous: Fraction, new: Fraction) -> Fraction:
    """new / previous; a perfect previous model (loss 0) can only be matched, never improved."""
    if previous == 0:
        return Fraction(1) if new <= 0 else Fraction(10**9)
    return new / previous


def _tier(ratio: Fraction) -> Fraction:
    for bound, share in TIERS:
        if ratio <= bound:
            return share
    return Fraction(0)


def parse_token_amount(text: str) -> int:
    """``"1.5"`` (tokens) → ``1_500_000_000_000_000_000`` base units, exactly, without float rounding."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number of tokens") from None
    units = value.scaleb(TOKEN_DECIMALS)
    if not value.is_finite() or value < 0 or units != units.to_integral_value():
        raise ValueError(f"{text!r} must be a non-negative amount with at most {TOKEN_DECIMALS} decimals")
    return int(units)


def format_token_amount(units: int) -> str:
    """``1_500_000_000_000_000_000`` base units → ``"1.5"`` (tokens): :func:`parse_token_amount` reversed."""
    whole, fraction = divmod(units, 10**TOKEN_DECIMALS)
    return f"{whole}.{fraction:0{TOKEN_DECIMALS}d}".rstrip("0") if fraction else str(whole)


def reward_budget(budget: str, base: str, rounds: int) -> int:
    """A training's reward budget in base units: ``budget`` tokens, or when empty ``base`` tokens
    per round (what either policy pays at most for a round), for ``rounds`` rounds."""
    if budget.strip():
        return parse_token_amount(budget)
    return parse_token_amount(base) * rounds
