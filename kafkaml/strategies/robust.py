"""The robust rules: K updates per version, combined so that a few hostile ones cannot move the
model far (coordinate-wise median, trimmed mean, Krum and Multi-Krum)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kafkaml.strategies.averaging import _Buffered, _ModelAverage
from kafkaml.strategies.base import StrategyError, Update, Weights, _f32, _weighted_sum


def _sorted_stack(updates: Sequence[Update], position: int) -> np.ndarray:
    """The K values of every coordinate of array ``position``, sorted along axis 0."""
    return np.sort(np.stack([update.weights[position] for update in updates]), axis=0)


@dataclass(frozen=True)
class Median(_ModelAverage):
    """Coordinate-wise median of the K updates (mean of the two middle values when K is even).

    Unweighted on purpose: sample counts are the clients' own claims, and an attacker could
    inflate them.
    """

    name: ClassVar[str] = "median"
    SUMMARY: ClassVar[str] = (
        "Robust aggregation: the coordinate-wise median of K buffered updates, unweighted, so a few outlying or "
        "malicious updates cannot drag the model far.")

    def _average(self, updates: Sequence[Update]) -> Weights:
        middle, odd = divmod(len(updates), 2)
        result = []
        for position in range(len(updates[0].weights)):
            ordered = _sorted_stack(updates, position)
            if odd:
                result.append(ordered[middle])
            else:
                result.append(ordered[middle - 1] * _f32(0.5) + ordered[middle] * _f32(0.5))
        return result


@dataclass(frozen=True)
class TrimmedMean(_ModelAverage):
    """Per coordinate, drop the ⌊β·K⌋ largest and smallest values and average the rest (unweighted)."""

    beta: float = 0.2

    name: ClassVar[str] = "trimmed_mean"
    DEFAULT_UPDATES: ClassVar[int] = 5
    SUMMARY: ClassVar[str] = (
        "Robust aggregation: per coordinate, drops the ⌊β·K⌋ largest and smallest of K buffered updates and "
        "averages the rest, unweighted.")
    HELP: ClassVar[dict[str, str]] = {
        **_Buffered.HELP,
        "beta": "Trimmed share β in [0, 0.5] (default 0.2) at each end; K − 2·⌊β·K⌋ must stay at least 1.",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> TrimmedMean:
        reader, updates, server_lr = cls._reader(params)
        beta = reader.number("beta", 0.2, low=0.0, high=0.5)
        reader.done()
        if updates - 2 * math.floor(beta * updates) < 1:
            raise StrategyError(f"{cls.name}: parameter 'beta' = {beta} trims all {updates} updates; use beta < 0.5")
        return cls(updates, server_lr, beta)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "beta": self.beta}

    def _average(self, updates: Sequence[Update]) -> Weights:
        trim = math.floor(self.beta * len(updates))
        kept = len(updates) - 2 * trim
        result = []
        for position in range(len(updates[0].weights)):
            ordered = _sorted_stack(updates, position)
            total = ordered[trim]
            for row in ordered[trim + 1:trim + kept]:
                total = total + row
            result.append(total / _f32(kept))
        return result


@dataclass(frozen=True)
class Krum(_ModelAverage):
    """Krum (Blanchard et al. 2017): with f assumed attackers among K updates (K > 2f + 2), each
    update's score is the sum of its squared distances to its K − f − 2 nearest other updates;
    the update with the smallest score is taken (ties: the earliest in the queue). Multi-Krum
    averages the m best, unweighted, in queue order. Then blended with η as FedAvg.

    Distances are taken over all arrays in float64 (a ×1000 update's squares overflow float32);
    they only rank the updates, and the result is built from the selected updates' float32
    weights, so the audit re-derives it bit for bit whenever the ranking is the same.
    """

    f: int = 1
    m: int = 1

    name: ClassVar[str] = "krum"
    DEFAULT_UPDATES: ClassVar[int] = 5
    DEFAULT_M: ClassVar[int | None] = None  # Krum takes one update; Multi-Krum sets its default m
    SUMMARY: ClassVar[str] = (
        "Robust aggregation (Krum): of K buffered updates, takes the one closest to its K − f − 2 nearest "
        "neighbours, so up to f arbitrary updates cannot be chosen while the honest ones agree. Needs K > 2f + 2.")
    HELP: ClassVar[dict[str, str]] = {
        **_Buffered.HELP,
        "f": "How many of the K updates may be attackers, an integer ≥ 0 (default 1); K must exceed 2·f + 2.",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> Krum:
        reader, updates, server_lr = cls._reader(params)
        f = reader.number("f", 1, low=0, high=10_000, integer=True)
        m = 1 if cls.DEFAULT_M is None else reader.number("m", cls.DEFAULT_M, low=1, high=10_000, integer=True)
        reader.done()
        if updates <= 2 * f + 2:
            raise StrategyError(f"{cls.name}: needs more than 2·f + 2 = {2 * f + 2} updates per round for f = {f}, "
                                f"got updates = {updates}")
        if m > updates - f:
            raise StrategyError(f"{cls.name}: parameter 'm' must be at most updates − f = {updates - f}, got {m}")
        return cls(updates, server_lr, f, m)

    def params(self) -> dict[str, Any]:
        params = {**super().params(), "f": self.f}
        if self.DEFAULT_M is not None:
            params["m"] = self.m
        return params

    def scores(self, updates: Sequence[Update]) -> list[float]:
        """Each update's Krum score: the sum of its K − f − 2 smallest squared distances to the others."""
        count = len(updates)
        distance = [[0.0] * count for _ in range(count)]
        # Array by array (one array's float64 copies at a time, not the whole model's), summed in
        # the model's order; numpy's own reduction, not BLAS, whose order depends on the CPU.
        for position in range(len(updates[0].weights)):
            arrays = [np.asarray(u.weights[position], np.float64) for u in updates]
            for i in range(count):
                for j in range(i + 1, count):
                    difference = arrays[i] - arrays[j]
                    distance[i][j] += float(np.sum(difference * difference))
                    distance[j][i] = distance[i][j]
        neighbours = count - self.f - 2
        return [sum(sorted(distance[i][j] for j in range(count) if j != i)[:neighbours]) for i in range(count)]

    def selected(self, updates: Sequence[Update]) -> list[int]:
        """The positions of the m best-scored updates, in queue order."""
        scores = self.scores(updates)
        return sorted(sorted(range(len(updates)), key=lambda i: (scores[i], i))[:self.m])

    def _average(self, updates: Sequence[Update]) -> Weights:
        chosen = [updates[i].weights for i in self.selected(updates)]
        if len(chosen) == 1:
            return [np.array(y, copy=True) for y in chosen[0]]
        return _weighted_sum([1.0 / len(chosen)] * len(chosen), chosen)


@dataclass(frozen=True)
class MultiKrum(Krum):
    name: ClassVar[str] = "multi_krum"
    DEFAULT_M: ClassVar[int | None] = 3
    SUMMARY: ClassVar[str] = (
        "Robust aggregation (Multi-Krum): ranks K buffered updates by Krum's score (the distance to their K − f − 2 "
        "nearest neighbours) and averages the m best, unweighted. Needs K > 2f + 2 and m ≤ K − f.")
    HELP: ClassVar[dict[str, str]] = {
        **Krum.HELP,
        "m": "How many of the best-scored updates are averaged, an integer in [1, K − f] (default 3); 1 is Krum.",
    }
