"""Aggregation strategies: how client updates become the next global model.

Each strategy is a small immutable object over a model's weights (a list of float32 numpy
arrays). It is *stateless*: the engine collects ``updates_per_round`` updates (1 for the
asynchronous rules, K for the buffered ones) and calls :meth:`Strategy.aggregate` once per new
global version. All arithmetic is float32, element-wise, in the order the updates are given, and
scalar coefficients are computed in Python floats and rounded to float32 once; so anyone holding
the previous global weights, the recorded updates in order and the strategy's canonical
description (:meth:`Strategy.description_json`, recorded on chain as a hash) recomputes the new
global model bit for bit, which is what ``kafkaml audit --recompute`` does.

Notation (as in ``ASYNC_STRATEGIES.md``): x global weights at version t, y an update trained from
version τ (staleness t − τ), n its sample count, x_τ the global weights of version τ.

``statistics`` are the positions of the model's non-trainable statistics (batch normalisation's
moving mean and variance: :func:`kafkaml.architecture.statistics_positions`). They are not
parameters a gradient moves but per-feature moments the layers measure, and a variance must stay
positive; the rules that combine models convexly (averages, medians, blends) keep them valid, and
FedBuff, which steps by deltas, takes them as the sample-weighted mean of the updates' own.
The genesis payload records them, so the audit passes the same positions.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kafkaml.rewards import RejectReason

Weights = list[np.ndarray]

FLOAT = np.float32


class StrategyError(ValueError):
    """An unknown strategy or a bad parameter; the message names the parameter."""


class InvalidUpdate(ValueError):
    """An update the engine must reject; ``reason`` is recorded with the rejection.

    ``index`` is the position of the offending update in the list given to ``aggregate`` (None
    when the combination as a whole failed, e.g. overflowed to infinity).
    """

    def __init__(self, reason: RejectReason, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.index = index


@dataclass(frozen=True)
class Update:
    """One client update: its weights, sample count n and base version τ.

    ``base_weights`` are the global weights of version τ the client trained from; only strategies
    with ``needs_base_weights`` (``fedbuff``) use them, to form the client's delta x_τ − y.
    """

    weights: Sequence[np.ndarray]
    samples: int
    base_version: int
    base_weights: Sequence[np.ndarray] | None = None


def check_weights(reference: Sequence[np.ndarray], weights: Sequence[np.ndarray], what: str = "update") -> None:
    """Raise :class:`InvalidUpdate` unless ``weights`` match ``reference`` array by array and are finite."""
    if len(weights) != len(reference):
        raise InvalidUpdate(RejectReason.SHAPE_MISMATCH,
                            f"{what} has {len(weights)} arrays, the model has {len(reference)}")
    for position, (expected, array) in enumerate(zip(reference, weights, strict=True)):
        if not isinstance(array, np.ndarray) or array.dtype != FLOAT:
            kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise InvalidUpdate(RejectReason.DTYPE_MISMATCH, f"{what} array {position} is {kind}, expected float32")
        if array.shape != expected.shape:
            raise InvalidUpdate(RejectReason.SHAPE_MISMATCH,
                                f"{what} array {position} has shape {array.shape}, expected {expected.shape}")
        if not np.isfinite(array).all():
            raise InvalidUpdate(RejectReason.NON_FINITE, f"{what} array {position} contains NaN or infinity")


@dataclass(frozen=True)
class Staleness:
    """s(t − τ): how much a stale update still counts (FedAsync, FedBuff).

    constant: 1; polynomial: (t − τ + 1)^(−a); hinge: 1 if t − τ ≤ b else 1 / (a(t − τ − b) + 1).
    """

    function: str = "polynomial"
    a: float = 0.5
    b: float = 4.0

    DEFAULT_A: ClassVar[dict[str, float]] = {"polynomial": 0.5, "hinge": 10.0}
    DEFAULT_B: ClassVar[float] = 4.0
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("constant", "polynomial", "hinge")
    #: The functions that read each parameter (the others refuse it as unknown).
    USED_BY: ClassVar[dict[str, tuple[str, ...]]] = {"a": ("polynomial", "hinge"), "b": ("hinge",)}
    HELP: ClassVar[dict[str, str]] = {
        "staleness": "How much a stale update (trained from an older version) still counts: constant (always 1), "
                     "polynomial ((staleness + 1)^−a) or hinge (1 up to b versions behind, then 1 / (a·(staleness − b) + 1)).",
        "a": f"Decay of the staleness function, ≥ 0: the exponent for polynomial (default {DEFAULT_A['polynomial']:g}), "
             f"the slope for hinge (default {DEFAULT_A['hinge']:g}); larger discounts stale updates more.",
        "b": f"Hinge only, ≥ 0 (default {DEFAULT_B:g}): how many versions behind an update may be before it is discounted.",
    }

    def __call__(self, staleness: int) -> float:
        if self.function == "polynomial":
            return (staleness + 1) ** -self.a
        if self.function == "hinge":
            return 1.0 if staleness <= self.b else 1.0 / (self.a * (staleness - self.b) + 1.0)
        return 1.0

    def params(self) -> dict[str, Any]:
        """Only the parameters the function uses, so equal functions have equal descriptions."""
        params: dict[str, Any] = {"staleness": self.function}
        if self.function != "constant":
            params["a"] = self.a
        if self.function == "hinge":
            params["b"] = self.b
        return params


class _Params:
    """Reads a strategy's JSON parameters: typed, range-checked, unknown keys refused."""

    def __init__(self, strategy: str, params: Mapping[str, Any] | None) -> None:
        if params is not None and not isinstance(params, Mapping):
            raise StrategyError(f"{strategy}: parameters must be a JSON object, got {type(params).__name__}")
        self.strategy = strategy
        self.left = dict(params or {})
        self.known: list[str] = []

    def number(self, name: str, default: float, *, low: float, high: float = math.inf,
               low_open: bool = False, integer: bool = False) -> Any:
        self.known.append(name)
        value = self.left.pop(name, default)
        kind = "an integer" if integer else "a number"
        wrong_type = isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real)
        if wrong_type or not math.isfinite(value):
            raise StrategyError(f"{self.strategy}: parameter {name!r} must be {kind}, got {value!r}")
        if value < low or (low_open and value == low) or value > high:
            bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            raise StrategyError(f"{self.strategy}: parameter {name!r} must be in {bounds}, got {value!r}")
        return int(value) if integer else float(value)

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        self.known.append(name)
        value = self.left.pop(name, default)
        if value not in choices:
            raise StrategyError(f"{self.strategy}: parameter {name!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def staleness(self) -> Staleness:
        function = self.choice("staleness", "polynomial", Staleness.FUNCTIONS)
        if function == "constant":
            return Staleness("constant", 0.0, 0.0)
        a = self.number("a", Staleness.DEFAULT_A[function], low=0.0)
        b = self.number("b", Staleness.DEFAULT_B, low=0.0) if function == "hinge" else 0.0
        return Staleness(function, a, b)

    def done(self) -> None:
        if self.left:
            allowed = ", ".join(self.known) or "none"
            raise StrategyError(f"{self.strategy}: unknown parameter(s) {', '.join(sorted(self.left))} "
                                f"(allowed: {allowed})")


class Strategy(ABC):
    """The interface the engine and the auditor use; subclasses define ``_combine``."""

    name: ClassVar[str]
    #: True when updates must carry ``base_weights`` (the engine then keeps or refetches x_τ).
    needs_base_weights: ClassVar[bool] = False
    #: True when the rule discounts an update by its staleness, so clients may keep training
    #: from the newest version while their earlier updates wait in the buffer (FedBuff). A rule
    #: that averages updates as equals (FedAvg, median, trimmed mean) wants one update per client
    #: and version, as in synchronous FedAvg; clients then wait for the next version.
    discounts_staleness: ClassVar[bool] = False
    #: What the rule does, one paragraph for people choosing it (the UI, ``GET /api/strategies/``).
    SUMMARY: ClassVar[str] = ""
    #: One sentence per parameter: its meaning, range and default.
    HELP: ClassVar[dict[str, str]] = {}

    @property
    @abstractmethod
    def updates_per_round(self) -> int:
        """How many updates one new global version consumes."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter with its effective value (defaults filled in)."""

    @abstractmethod
    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        """The rule itself, on inputs already validated."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params()}

    def description_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal strategies give equal text."""
        return json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))

    def description_hash(self) -> bytes:
        """SHA-256 of :meth:`description_json`: the 32 bytes recorded on chain."""
        return hashlib.sha256(self.description_json().encode()).digest()

    def check_update(self, current: Sequence[np.ndarray], version: int, update: Update, index: int | None = None) -> None:
        """Raise :class:`InvalidUpdate` for an update this strategy cannot aggregate at ``version``.

        The engine calls this on arrival, so a bad update is rejected before it enters a buffer;
        base weights are checked when given, and only ``aggregate`` requires them.
        """
        try:
            samples = update.samples
            if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples <= 0:
                raise InvalidUpdate(RejectReason.BAD_SAMPLE_COUNT, f"samples must be a positive integer, got {samples!r}")
            if not 0 <= update.base_version <= version:
                raise InvalidUpdate(RejectReason.BAD_VERSION,
                                    f"base version {update.base_version} is not in [0, {version}]")
            check_weights(current, update.weights)
            if update.base_weights is not None:
                check_weights(current, update.base_weights, "base weights")
        except InvalidUpdate as error:
            error.index = index
            raise

    def aggregate(self, current: Sequence[np.ndarray], version: int, updates: Sequence[Update],
                  statistics: Sequence[int] = ()) -> Weights:
        """The global weights of version ``version + 1`` from those of ``version`` and ``updates``;
        ``statistics`` are the positions of the model's statistics (see the module docstring).

        Raises ValueError when called with the wrong number of updates or statistics positions
        outside the model (engine bugs) and :class:`InvalidUpdate` for a bad update or a result
        that is not finite.
        """
        if len(updates) != self.updates_per_round:
            raise ValueError(f"{self.name} aggregates {self.updates_per_round} update(s) per round, got {len(updates)}")
        if any(not 0 <= position < len(current) for position in statistics):
            raise ValueError(f"statistics positions {list(statistics)} are not all in [0, {len(current)})")
        check_weights(current, current, "global model")
        for index, update in enumerate(updates):
            if self.needs_base_weights and update.base_weights is None:
                raise ValueError(f"{self.name} needs the base weights x_τ of version {update.base_version}")
            self.check_update(current, version, update, index)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
            result = self._combine(list(current), version, updates, statistics)
        if not all(np.isfinite(array).all() for array in result):
            raise InvalidUpdate(RejectReason.NON_FINITE, f"{self.name} produced NaN or infinity")
        return result


def _f32(value: float) -> np.float32:
    return FLOAT(value)


def _blend(current: Weights, target: Weights, rate: float) -> Weights:
    """x ← (1 − η)·x + η·target; exactly (a copy of) ``target`` when η = 1."""
    if rate == 1.0:
        return [np.array(y, copy=True) for y in target]
    keep, take = _f32(1.0 - rate), _f32(rate)
    return [keep * x + take * y for x, y in zip(current, target, strict=True)]


def _weighted_sum(coefficients: Sequence[float], models: Sequence[Sequence[np.ndarray]]) -> Weights:
    """Σ_k c_k·models_k array by array, accumulated in the given order (c_k rounded to float32)."""
    total = [_f32(coefficients[0]) * array for array in models[0]]
    for coefficient, model in zip(coefficients[1:], models[1:], strict=True):
        total = [acc + _f32(coefficient) * array for acc, array in zip(total, model, strict=True)]
    return total


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


@dataclass(frozen=True)
class _Buffered(Strategy):
    """A rule applied once K = ``updates`` updates are buffered, with a server learning rate η."""

    updates: int = 3
    server_lr: float = 1.0

    DEFAULT_UPDATES: ClassVar[int] = 3
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
        server_lr = reader.number("server_lr", 1.0, low=0.0, high=cls.MAX_SERVER_LR, low_open=True)
        return reader, updates, server_lr

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> _Buffered:
        reader, updates, server_lr = cls._reader(params)
        reader.done()
        return cls(updates, server_lr)

    def params(self) -> dict[str, Any]:
        return {"updates": self.updates, "server_lr": self.server_lr}


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
    SUMMARY: ClassVar[str] = (
        "Buffered FedAvg: waits for K updates (one per client and version) and averages them weighted by their "
        "sample counts. Staleness is not discounted; fast clients wait for the next version.")

    def _average(self, updates: Sequence[Update]) -> Weights:
        return _sample_weighted_mean(updates)


def _sample_weighted_mean(updates: Sequence[Update]) -> Weights:
    """Σ_k (n_k / Σn)·y_k, summed in the given order."""
    total = sum(int(update.samples) for update in updates)
    return _weighted_sum([int(u.samples) / total for u in updates], [u.weights for u in updates])


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
        result = [x - step * d for x, d in zip(current, total, strict=True)]
        if statistics:
            measured = _sample_weighted_mean(updates)
            for position in statistics:
                result[position] = measured[position]
        return result


_CLASSES: tuple[type[Strategy], ...] = (FedAvg, Mix, FedAsync, FedBuff, Median, TrimmedMean)

STRATEGIES: dict[str, Callable[[Mapping[str, Any] | None], Strategy]] = {
    cls.name: cls.from_params for cls in _CLASSES
}


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy registered as ``name`` with its parameters validated; StrategyError otherwise."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise StrategyError(f"unknown aggregation strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return factory(params)


def strategy_from_description(description: str | bytes | Mapping[str, Any]) -> Strategy:
    """Rebuild a strategy from :meth:`Strategy.description_json` (or its parsed dict), for audits."""
    if isinstance(description, str | bytes):
        try:
            description = json.loads(description)
        except json.JSONDecodeError as exc:
            raise StrategyError(f"strategy description is not JSON: {exc.msg}") from None
    if not isinstance(description, Mapping) or set(description) != {"name", "params"}:
        raise StrategyError('a strategy description is a JSON object {"name": ..., "params": {...}}')
    return make_strategy(description["name"], description["params"])


def strategy_catalogue() -> list[dict[str, Any]]:
    """Every strategy with its summary and its parameters (default, kind, choices, help), for people
    choosing one: the defaults are those :func:`make_strategy` fills in, so they cannot drift.

    A parameter used only with some staleness functions (``b`` by hinge) carries ``when``:
    ``{"staleness": [functions that read it]}``; its default is the one of those functions.
    """
    catalogue = []
    for cls in _CLASSES:
        defaults = make_strategy(cls.name).params()
        if "staleness" in defaults:  # the hinge function adds b
            defaults = {**make_strategy(cls.name, {"staleness": "hinge"}).params(), **defaults}
        parameters = []
        for name, default in defaults.items():
            value_type = "choice" if isinstance(default, str) else "integer" if isinstance(default, int) else "number"
            parameters.append({
                "name": name, "default": default, "value_type": value_type, "description": cls.HELP.get(name, ""),
                "choices": list(Staleness.FUNCTIONS) if name == "staleness" else [],
                "when": {"staleness": list(Staleness.USED_BY[name])} if name in Staleness.USED_BY else {},
            })
        strategy = make_strategy(cls.name)
        catalogue.append({"name": cls.name, "description": cls.SUMMARY, "updates_per_round": strategy.updates_per_round,
                          "discounts_staleness": cls.discounts_staleness, "parameters": parameters})
    return catalogue
