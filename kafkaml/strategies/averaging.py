"""The buffered averages: K updates per version, averaged as equals (FedAvg) or stepped by their
staleness-discounted deltas (FedBuff)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kafkaml.strategies.base import (
    Privacy,
    Staleness,
    Strategy,
    Update,
    Weights,
    _blend,
    _f32,
    _Params,
    _weighted_sum,
    private_move,
)


@dataclass(frozen=True)
class _Buffered(Strategy):
    """A rule applied once K = ``updates`` updates are buffered, with a server learning rate η."""

    updates: int = 3
    server_lr: float = 1.0
    # Keyword-only, so that it follows every subclass's own fields.
    dp: Privacy | None = field(default=None, kw_only=True)

    DEFAULT_UPDATES: ClassVar[int] = 3
    DEFAULT_SERVER_LR: ClassVar[float] = 1.0
    MAX_SERVER_LR: ClassVar[float] = 1.0
    HELP: ClassVar[dict[str, str]] = {
        "updates": "K, an integer in [1, 10000]: how many updates are buffered to make one new global version.",
        "server_lr": "Server learning rate η in (0, 1]: the new global model is (1 − η)·x + η·(the combination "
                     "of the K updates); 1 replaces it.",
    }

    @property
    def updates_per_round(self) -> int:
        return self.updates

    @classmethod
    def _reader(cls, params: Mapping[str, Any] | None) -> tuple[_Params, int, float]:
        reader = _Params(cls.name, params)
        updates = reader.number("updates", cls.DEFAULT_UPDATES, low=1, high=10_000, integer=True)
        server_lr = reader.number("server_lr", cls.DEFAULT_SERVER_LR, low=0.0, high=cls.MAX_SERVER_LR, low_open=True)
        reader.dp = reader.privacy() if cls.SUPPORTS_DP else None
        return reader, updates, server_lr

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> _Buffered:
        reader, updates, server_lr = cls._reader(params)
        reader.done()
        return cls(updates, server_lr, dp=reader.dp)

    def params(self) -> dict[str, Any]:
        # DP's parameters only when it is on, so that the descriptions of rules without it stay as they were.
        return {"updates": self.updates, "server_lr": self.server_lr, **(self.dp.params() if self.dp else {})}


class _ModelAverage(_Buffered):
    """x ← (1 − η)·x + η·A(y_1..y_K) for an average A of the buffered client models."""

    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        return _blend(current, self._average(updates), self.server_lr)

    @abstractmethod
    def _average(self, updates: Sequence[Update]) -> Weights:
        """A(y_1..y_K), array by array."""


@dataclass(frozen=True)
class FedAvg(_ModelAverage):
    """FedAvg: A = Σ_k (n_k / Σn)·y_k, summed in the given order; staleness is not weighted."""

    name: ClassVar[str] = "fedavg"
    SUPPORTS_DP: ClassVar[bool] = True
    SUMMARY: ClassVar[str] = (
        "Buffered FedAvg: waits for K updates (one per client and version) and averages them weighted by their "
        "sample counts. Staleness is not discounted; fast clients wait for the next version. With differential "
        "privacy (dp_clip), the clipped moves are averaged unweighted and noised.")
    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        if self.dp is None:
            return super()._combine(current, version, updates, statistics)
        # x + η·Δ̃: the noised mean move stands for A(y) − x; (1 − η)·x + η·A(y) is the same step.
        rate = _f32(self.server_lr)
        return [x + rate * d for x, d in zip(current, private_move(self.dp, current, version, updates), strict=True)]

    def _average(self, updates: Sequence[Update]) -> Weights:
        return _sample_weighted_mean(updates)


def _sample_weighted_mean(updates: Sequence[Update]) -> Weights:
    """Σ_k (n_k / Σn)·y_k, summed in the given order."""
    total = sum(int(update.samples) for update in updates)
    return _weighted_sum([int(u.samples) / total for u in updates], [u.weights for u in updates])


def _keep_statistics(result: Weights, updates: Sequence[Update], statistics: Sequence[int]) -> Weights:
    """Statistics positions take the updates' own, sample-weighted (see :class:`FedBuff`)."""
    if statistics:
        measured = _sample_weighted_mean(updates)
        for position in statistics:
            result[position] = measured[position]
    return result


@dataclass(frozen=True)
class FedBuff(_Buffered):
    """FedBuff (Nguyen et al.): Δ_k = x_τk − y_k; x ← x − (η_g / K)·Σ_k s(t − τ_k)·Δ_k.

    ``server_lr`` is η_g and may exceed 1, as in the paper; the default s is polynomial with
    a = ½, i.e. 1/√(1 + staleness) as in FLSim. Each update must carry ``base_weights`` = x_τk.

    The step is for parameters. The statistics positions take Σ_k (n_k / Σn)·y_k, the updates'
    own statistics weighted by samples, as FedAvg averages them: stepping a moving variance by
    discounted deltas measured from another version overshoots it below zero (a variance of 1 at
    genesis, 0.01 after a local epoch: 0.01 − 0.71·0.99 < 0), and the model's loss turns NaN.
    """

    staleness: Staleness = Staleness()

    name: ClassVar[str] = "fedbuff"
    needs_base_weights: ClassVar[bool] = True
    discounts_staleness: ClassVar[bool] = True
    DEFAULT_UPDATES: ClassVar[int] = 4
    MAX_SERVER_LR: ClassVar[float] = 100.0
    SUMMARY: ClassVar[str] = (
        "Buffered asynchronous FedBuff: buffers K client deltas (base model − update), each discounted by its "
        "staleness, and steps the global model by η/K times their sum. Clients keep training from the newest version.")
    HELP: ClassVar[dict[str, str]] = {
        "updates": _Buffered.HELP["updates"],
        "server_lr": "Server learning rate η_g in (0, 100] (default 1): the step x ← x − (η_g / K)·Σ s·Δ; "
                     "may exceed 1, as in the paper.",
        **Staleness.HELP,
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> FedBuff:
        reader, updates, server_lr = cls._reader(params)
        staleness = reader.staleness()
        reader.done()
        return cls(updates, server_lr, staleness)

    def params(self) -> dict[str, Any]:
        return {**super().params(), **self.staleness.params()}

    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        deltas = [[base - y for base, y in zip(u.base_weights or (), u.weights, strict=True)] for u in updates]
        total = _weighted_sum([self.staleness(version - u.base_version) for u in updates], deltas)
        step = _f32(self.server_lr / len(updates))
        return _keep_statistics([x - step * d for x, d in zip(current, total, strict=True)], updates, statistics)
