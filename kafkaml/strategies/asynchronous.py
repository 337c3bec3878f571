"""The asynchronous rules: one update per version, blended in by a staleness-discounted rate
(FedAsync, and Mix, the paper's Algorithm 1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from kafkaml.strategies.base import Staleness, Strategy, Update, Weights, _blend, _Params


@dataclass(frozen=True)
class FedAsync(Strategy):
    """FedAsync (Xie et al.): α_t = α·s(t − τ); x ← (1 − α_t)·x + α_t·y, one update per version."""

    alpha: float = 0.9
    staleness: Staleness = Staleness()

    name: ClassVar[str] = "fedasync"
    discounts_staleness: ClassVar[bool] = True
    SUMMARY: ClassVar[str] = (
        "Asynchronous FedAsync: every update makes a new global version at once, blended in with weight "
        "α·s(staleness), so an update trained from an older version counts less. Clients never wait for each other.")
    HELP: ClassVar[dict[str, str]] = {
        "alpha": "Mixing weight α in (0, 1] (default 0.9): the share of the new global model taken from a fresh update.",
        **Staleness.HELP,
    }

    @property
    def updates_per_round(self) -> int:
        return 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> FedAsync:
        reader = _Params(cls.name, params)
        alpha = reader.number("alpha", 0.9, low=0.0, high=1.0, low_open=True)
        staleness = reader.staleness()
        reader.done()
        return cls(alpha, staleness)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, **self.staleness.params()}

    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        (update,) = updates
        alpha_t = self.alpha * self.staleness(version - update.base_version)
        return _blend(current, list(update.weights), alpha_t)


@dataclass(frozen=True)
class Mix(FedAsync):
    """The paper's Algorithm 1 (``weightsAverage``), the earlier Kafka-ML rule x ← ½x + ½y: each
    dequeued update averaged half and half with the global model; FedAsync with α = ½ and no
    staleness weighting."""

    alpha: float = 0.5
    staleness: Staleness = Staleness("constant", 0.0, 0.0)

    name: ClassVar[str] = "mix"
    SUMMARY: ClassVar[str] = (
        "The paper's Algorithm 1 (weightsAverage), the earlier Kafka-ML rule: every update makes a new version, "
        "the average of the global model and the update (½·x + ½·y), whatever its staleness. No parameters.")
    HELP: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> Mix:
        _Params(cls.name, params).done()
        return cls()

    def params(self) -> dict[str, Any]:
        return {}
