"""The privacy a training with central differential privacy has spent (:class:`kafkaml.strategies.Privacy`).

Every round releases the mean of K clipped moves plus Gaussian noise of standard deviation σ·S/K:
the Gaussian mechanism with noise multiplier σ on a sum whose sensitivity to one update is S.
Each round is counted with sampling probability 1: the platform does not sample clients at
random (it takes the updates that arrive), so no amplification by subsampling is claimed. After
t rounds the t mechanisms compose; ``dp-accounting``'s Rényi DP accountant (the one TensorFlow
Privacy uses) turns that into ε at the training's δ. The accountant is imported on first use: only
the aggregator, in the worker image, needs it.
"""

from __future__ import annotations

import math
from typing import Any

from kafkaml.strategies import Privacy, noise_seed

#: The accountant named in the reports.
ACCOUNTANT = "rdp"


def epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """ε at ``delta`` after ``rounds`` Gaussian mechanisms of ``noise_multiplier`` (infinity when σ is 0)."""
    if rounds < 0:
        raise ValueError(f"rounds must be at least 0, got {rounds}")
    if rounds == 0:
        return 0.0
    if noise_multiplier == 0.0:
        return math.inf
    import dp_accounting  # the worker image's; imported here so that the backend never needs it
    from dp_accounting.rdp import RdpAccountant

    accountant = RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
    return float(accountant.get_epsilon(delta))


def privacy_spent(privacy: Privacy, version: int, updates: int, content_hashes: list[bytes]) -> dict[str, Any]:
    """The round report's ``privacy`` after global version ``version`` (its ``version`` rounds):
    ε (None for infinity: no noise) at δ, the settings, the noise's standard deviation and the seed
    the round's noise was drawn from (hex), which the audit re-derives from the public record."""
    spent = epsilon(privacy.noise_multiplier, version, privacy.delta)
    return {"epsilon": spent if math.isfinite(spent) else None, "delta": privacy.delta,
            "noise_multiplier": privacy.noise_multiplier, "clip": privacy.clip, "rounds": version,
            "noise_std": privacy.noise_std(updates), "seed": noise_seed(version, content_hashes).hex(),
            "accountant": ACCOUNTANT}
