"""Aggregation strategies: how client updates become the next global model.

Each strategy is a small immutable object over a model's weights (a list of float32 numpy
arrays). The engine collects ``updates_per_round`` updates (1 for the asynchronous rules, K for the
buffered ones) and calls :meth:`Strategy.step` once per new global version. The server optimizers
(FedAvgM, FedAdagrad, FedAdam, FedYogi) carry moments from round to round: that
:class:`ServerState` is not kept in the strategy object but passed in and returned by ``step``,
starting from :meth:`Strategy.initial_state` of the genesis, so it is a function of the genesis
and the recorded rounds, and the audit, which replays the versions in order from the genesis,
re-derives it with them. All arithmetic is float32, element-wise, in the order the updates are given, and
scalar coefficients are computed in Python floats and rounded to float32 once; so anyone holding
the previous global weights, the recorded updates in order and the strategy's canonical
description (:meth:`Strategy.description_json`, recorded on chain as a hash) recomputes the new
global model (and the server state) bit for bit, which is what ``kafkaml audit --recompute`` does.

Notation (as in ``ASYNC_STRATEGIES.md``): x global weights at version t, y an update trained from
version τ (staleness t − τ), n its sample count, x_τ the global weights of version τ.

``statistics`` are the positions of the model's non-trainable statistics (batch normalisation's
moving mean and variance: :func:`kafkaml.architecture.statistics_positions`). They are not
parameters a gradient moves but per-feature moments the layers measure, and a variance must stay
positive; the rules that combine models convexly (averages, medians, blends) keep them valid, and
FedBuff, which steps by deltas, takes them as the sample-weighted mean of the updates' own.
The genesis payload records them, so the audit passes the same positions.

Central differential privacy (:class:`Privacy`, the ``dp_*`` parameters of FedAvg and the server
optimizers) clips every update's move from the global model and adds Gaussian noise to their
mean, from a generator seeded by the round's public record (:meth:`Strategy.noise_seed`), so the
audit re-derives the noise too; docs/training-engine.md explains the choices.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    #: The update's content hash as recorded (on chain or in the control topic); differential
    #: privacy seeds its noise with the round's hashes, so it needs them (see :class:`Privacy`).
    content_hash: bytes | None = None


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
class ServerState:
    """A server optimizer's moments after a version: ``m`` (first moment, or FedAvgM's momentum)
    and ``v`` (second moment; empty for FedAvgM), float32 arrays shaped like the model.

    It is what :meth:`Strategy.step` carries from one version to the next; :meth:`arrays` and
    :meth:`from_arrays` are the flat form the aggregator keeps on disk between restarts.
    """

    m: tuple[np.ndarray, ...]
    v: tuple[np.ndarray, ...] = ()

    def arrays(self) -> list[np.ndarray]:
        return [*self.m, *self.v]

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], model_arrays: int) -> ServerState:
        """The inverse of :meth:`arrays` for a model of ``model_arrays`` arrays."""
        if len(arrays) not in (model_arrays, 2 * model_arrays):
            raise ValueError(f"a server state of {len(arrays)} arrays does not fit a model of {model_arrays}")
        return cls(tuple(arrays[:model_arrays]), tuple(arrays[model_arrays:]))

    def digest(self) -> bytes:
        """SHA-256 over every array's shape and bytes: equal states, equal digests."""
        digest = hashlib.sha256()
        for array in self.arrays():
            digest.update(repr(array.shape).encode())
            digest.update(np.ascontiguousarray(array, FLOAT).tobytes())
        return digest.digest()


@dataclass(frozen=True)
class Privacy:
    """Central differential privacy of a buffered averaging rule (DP-FedAvg, McMahan et al. 2018,
    "Learning Differentially Private Recurrent Language Models"), per round of K updates:

    1. each update's move d_k = y_k − x is scaled to L2 norm at most ``clip`` = S over all the
       model's arrays (the models it is allowed for have no statistics positions);
    2. the moves are averaged *unweighted*, Δ = (1/K)·Σ_k clip(d_k): DP-FedAvg's fixed-denominator
       estimator with every client's weight 1, so one update moves Δ by at most S/K whatever the
       sample counts claim (a sample-weighted mean gives a client that claims most of the samples
       a sensitivity near S);
    3. Gaussian noise of standard deviation σ·S/K (σ = ``noise_multiplier``) is added to every
       coordinate of Δ, which then takes the place of the rule's mean move.

    The noise comes from :meth:`Strategy.noise_seed`, public data, so that anyone can re-derive it
    (docs/threat-model.md says what that protects against). ε at ``delta`` after t rounds is
    :func:`kafkaml.privacy.privacy_spent`'s (the Gaussian mechanism composed t times).
    """

    clip: float
    noise_multiplier: float
    delta: float = 1e-5

    DEFAULT_NOISE_MULTIPLIER: ClassVar[float] = 1.0
    DEFAULT_DELTA: ClassVar[float] = 1e-5
    HELP: ClassVar[dict[str, str]] = {
        "dp_clip": "Central differential privacy, off at 0 (the default): the L2 norm S > 0 every update's move "
                   "from the global model is clipped to; the K moves are then averaged unweighted and Gaussian "
                   "noise of standard deviation σ·S/K is added. Not for models with batch normalisation.",
        "dp_noise_multiplier": f"Differential privacy's noise multiplier σ ≥ 0 (default {DEFAULT_NOISE_MULTIPLIER:g}; "
                               "needs dp_clip): the noise's standard deviation is σ·S/K; 0 clips without privacy.",
        "dp_delta": f"Differential privacy's δ in (0, 0.1] (default {DEFAULT_DELTA:g}; needs dp_clip): ε is reported "
                    "for this δ after every round; take it below 1 / (number of clients).",
    }

    def params(self) -> dict[str, Any]:
        return {"dp_clip": self.clip, "dp_noise_multiplier": self.noise_multiplier, "dp_delta": self.delta}

    def noise_std(self, updates: int) -> float:
        """σ·S/K, the noise's standard deviation on the mean of K clipped moves."""
        return self.noise_multiplier * self.clip / updates

    def clip_factor(self, norm: float) -> float:
        """min(1, S / ‖d‖): what a move of L2 norm ``norm`` is multiplied by."""
        return 1.0 if norm <= self.clip else self.clip / norm


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
        self.given = frozenset(self.left)
        self.dp: Privacy | None = None
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

    def privacy(self) -> Privacy | None:
        """The ``dp_*`` parameters: None when ``dp_clip`` is 0 (off), and then no other is allowed."""
        clip = self.number("dp_clip", 0.0, low=0.0, high=1e6)
        noise = self.number("dp_noise_multiplier", Privacy.DEFAULT_NOISE_MULTIPLIER, low=0.0, high=1e4)
        delta = self.number("dp_delta", Privacy.DEFAULT_DELTA, low=0.0, high=0.1, low_open=True)
        if clip == 0.0:
            given = [name for name in ("dp_noise_multiplier", "dp_delta") if name in self.given]
            if given:
                raise StrategyError(f"{self.strategy}: parameter(s) {', '.join(given)} need dp_clip > 0 "
                                    "(differential privacy is off while dp_clip is 0)")
            return None
        return Privacy(clip, noise, delta)

    def refuse_privacy(self) -> None:
        """A rule whose combination is not a mean of moves has no DP-FedAvg sensitivity bound."""
        given = sorted(name for name in self.left if name.startswith("dp_"))
        if given:
            raise StrategyError(f"{self.strategy}: differential privacy ({', '.join(given)}) is available for fedavg "
                                "and the server optimizers (fedavgm, fedadagrad, fedadam, fedyogi) only: this rule "
                                "does not average the updates' moves, so clipping them does not bound one update's "
                                "influence")

    def done(self) -> None:
        self.refuse_privacy()
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
    #: True when the rule carries a :class:`ServerState` from version to version (the server
    #: optimizers): :meth:`step` then takes the state after the current version and returns the next.
    stateful: ClassVar[bool] = False
    #: True when the rule takes the ``dp_*`` parameters (its combination is a mean of moves).
    SUPPORTS_DP: ClassVar[bool] = False
    #: Central differential privacy (None: off); a field of the rules that support it.
    dp: Privacy | None = None
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

    def _combine_state(self, current: Weights, version: int, updates: Sequence[Update], statistics: Sequence[int],
                       state: ServerState | None) -> tuple[Weights, ServerState | None]:
        """The rule with its state; stateless rules keep none."""
        return self._combine(current, version, updates, statistics), state

    def initial_state(self, genesis: Sequence[np.ndarray]) -> ServerState | None:
        """The server state before the first round (None: the rule keeps none)."""
        return None

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
        Only for stateless rules: a stateful one needs :meth:`step`.

        Raises ValueError when called with the wrong number of updates or statistics positions
        outside the model (engine bugs) and :class:`InvalidUpdate` for a bad update or a result
        that is not finite.
        """
        return self.step(current, version, updates, statistics)[0]

    def step(self, current: Sequence[np.ndarray], version: int, updates: Sequence[Update],
             statistics: Sequence[int] = (), state: ServerState | None = None) -> tuple[Weights, ServerState | None]:
        """:meth:`aggregate` with the server state: ``state`` is the one after version ``version``
        (:meth:`initial_state` of the genesis for version 0), and the state after the new version
        is returned with its weights. The given state is never modified, so a round whose result
        is discarded (not finite, not recorded) leaves it as it was.
        """
        if self.stateful != (state is not None):
            raise ValueError(f"{self.name} {'needs' if self.stateful else 'keeps no'} server optimizer state")
        if len(updates) != self.updates_per_round:
            raise ValueError(f"{self.name} aggregates {self.updates_per_round} update(s) per round, got {len(updates)}")
        if any(not 0 <= position < len(current) for position in statistics):
            raise ValueError(f"statistics positions {list(statistics)} are not all in [0, {len(current)})")
        if self.dp is not None:
            if statistics:
                raise ValueError(f"{self.name} with differential privacy refuses models with statistics (batch "
                                 "normalisation): their moving moments are measured on the clients' data and are "
                                 "not moves that clipping bounds")
            if any(not isinstance(u.content_hash, bytes) or len(u.content_hash) != 32 for u in updates):
                raise ValueError(f"{self.name} with differential privacy needs every update's 32-byte content hash "
                                 "to seed its noise")
        check_weights(current, current, "global model")
        for index, update in enumerate(updates):
            if self.needs_base_weights and update.base_weights is None:
                raise ValueError(f"{self.name} needs the base weights x_τ of version {update.base_version}")
            self.check_update(current, version, update, index)
        if state is not None:
            check_weights(current, state.m, "server state m")
            if state.v:
                check_weights(current, state.v, "server state v")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
            result, state = self._combine_state(list(current), version, updates, statistics, state)
        if not all(np.isfinite(array).all() for array in [*result, *(state.arrays() if state else ())]):
            raise InvalidUpdate(RejectReason.NON_FINITE, f"{self.name} produced NaN or infinity")
        return result, state


def _f32(value: float) -> np.float32:
    return FLOAT(value)


#: Tags the noise seed, so that it cannot collide with another use of the same hashes.
NOISE_SEED_TAG = b"kafkaml/dp-noise/v1"


def noise_seed(version: int, content_hashes: Sequence[bytes]) -> bytes:
    """The seed of differential privacy's noise in the round that makes global version ``version``:
    SHA-256 of the tag, the version (8 bytes, big-endian) and the round's accepted updates' content
    hashes in queue order. Every one of them is on the public record (an update's hash also covers
    its metadata: client, base version, training), so anyone re-derives the noise: see
    docs/threat-model.md for what that means."""
    digest = hashlib.sha256(NOISE_SEED_TAG)
    digest.update(version.to_bytes(8, "big"))
    for content_hash in content_hashes:
        digest.update(content_hash)
    return digest.digest()


def clipped_norm(current: Sequence[np.ndarray], weights: Sequence[np.ndarray]) -> float:
    """‖y − x‖ over all arrays: float32 moves squared and summed in float64 array by array (numpy's
    own pairwise reduction, not BLAS, whose order depends on the CPU), in the model's order."""
    return math.sqrt(sum(float(np.sum(np.square((y - x).astype(np.float64))))
                         for x, y in zip(current, weights, strict=True)))


def private_move(privacy: Privacy, current: Weights, version: int, updates: Sequence[Update]) -> Weights:
    """Δ̃ = (1/K)·Σ_k min(1, S/‖d_k‖)·d_k + N(0, (σ·S/K)²) with d_k = y_k − x (see :class:`Privacy`).

    Float32 like every rule: each clip factor is computed in Python floats and rounded to float32
    once (so a last-bit difference in a float64 norm almost never reaches it), the mean is summed in
    queue order, and the noise is drawn array by array in the model's order from NumPy's PCG64
    generator seeded with :func:`noise_seed` (``standard_normal`` in float64, scaled, then rounded
    to float32).
    """
    moves = []
    for update in updates:
        move = [y - x for x, y in zip(current, update.weights, strict=True)]
        factor = privacy.clip_factor(clipped_norm(current, update.weights))
        moves.append(move if factor == 1.0 else [_f32(factor) * d for d in move])
    mean = _weighted_sum([1.0 / len(updates)] * len(updates), moves)
    std = privacy.noise_std(len(updates))
    if std == 0.0:
        return mean
    seed = noise_seed(version + 1, [u.content_hash or b"" for u in updates])
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    return [d + (generator.standard_normal(d.shape) * std).astype(FLOAT) for d in mean]


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
        return _keep_statistics([x - step * d for x, d in zip(current, total, strict=True)], updates, statistics)


def _pseudo_gradient(current: Weights, updates: Sequence[Update]) -> Weights:
    """Δ = Σ_k (n_k / Σn)·(y_k − x): FedAvg's average move, the server optimizers' (negated) gradient."""
    total = sum(int(update.samples) for update in updates)
    moves = [[y - x for x, y in zip(current, u.weights, strict=True)] for u in updates]
    return _weighted_sum([int(u.samples) / total for u in updates], moves)


def _keep_statistics(result: Weights, updates: Sequence[Update], statistics: Sequence[int]) -> Weights:
    """Statistics positions take the updates' own, sample-weighted (see :class:`FedBuff`)."""
    if statistics:
        measured = _sample_weighted_mean(updates)
        for position in statistics:
            result[position] = measured[position]
    return result


@dataclass(frozen=True)
class _ServerOptimizer(_Buffered):
    """A server optimizer over FedAvg's pseudo-gradient Δ (Reddi et al., "Adaptive Federated
    Optimization", 2021): the buffered round's sample-weighted mean move of the K updates from
    the current global model drives an optimizer step on the server, with moments carried in a
    :class:`ServerState` from version to version (:meth:`Strategy.step`). Statistics positions
    are not stepped; they take the updates' own, sample-weighted, as in FedBuff.
    """

    stateful: ClassVar[bool] = True
    SUPPORTS_DP: ClassVar[bool] = True
    MAX_SERVER_LR: ClassVar[float] = 10.0

    def initial_state(self, genesis: Sequence[np.ndarray]) -> ServerState:
        return ServerState(tuple(np.zeros_like(x, FLOAT) for x in genesis))

    def _combine(self, current: Weights, version: int, updates: Sequence[Update],
                 statistics: Sequence[int]) -> Weights:
        raise TypeError(f"{self.name} keeps server state: use step()")  # step() calls _combine_state

    def _combine_state(self, current: Weights, version: int, updates: Sequence[Update], statistics: Sequence[int],
                       state: ServerState | None) -> tuple[Weights, ServerState]:
        assert state is not None  # step() checked it
        delta = (_pseudo_gradient(current, updates) if self.dp is None
                 else private_move(self.dp, current, version, updates))
        result, state = self._optimize(current, delta, state)
        return _keep_statistics(result, updates, statistics), state

    @abstractmethod
    def _optimize(self, current: Weights, delta: Weights, state: ServerState) -> tuple[Weights, ServerState]:
        """One server step from x by Δ with the state after x."""


@dataclass(frozen=True)
class FedAvgM(_ServerOptimizer):
    """FedAvgM (Hsu et al. 2019): m ← β·m + Δ; x ← x + η·m (m₀ = 0)."""

    momentum: float = 0.9

    name: ClassVar[str] = "fedavgm"
    SUMMARY: ClassVar[str] = (
        "Buffered FedAvg with server momentum (FedAvgM): waits for K updates, takes their sample-weighted mean move "
        "from the global model and steps the global model by η times a momentum of those moves. Clients wait for "
        "the next version, as with FedAvg.")
    HELP: ClassVar[dict[str, str]] = {
        "updates": _Buffered.HELP["updates"],
        "server_lr": "Server learning rate η in (0, 10] (default 1): x ← x + η·m. The effective step is about "
                     "η / (1 − β) times FedAvg's.",
        "momentum": "Server momentum β in [0, 1) (default 0.9): m ← β·m + Δ; 0 is FedAvg with server rate η.",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> FedAvgM:
        reader, updates, server_lr = cls._reader(params)
        momentum = reader.number("momentum", 0.9, low=0.0, high=1.0)
        reader.done()
        if momentum == 1.0:
            raise StrategyError(f"{cls.name}: parameter 'momentum' must be below 1, got 1.0")
        return cls(updates, server_lr, momentum, dp=reader.dp)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "momentum": self.momentum}

    def _optimize(self, current: Weights, delta: Weights, state: ServerState) -> tuple[Weights, ServerState]:
        beta, rate = _f32(self.momentum), _f32(self.server_lr)
        m = [beta * m + d for m, d in zip(state.m, delta, strict=True)]
        return [x + rate * mx for x, mx in zip(current, m, strict=True)], ServerState(tuple(m))


@dataclass(frozen=True)
class _Adaptive(_ServerOptimizer):
    """FedAdagrad, FedAdam, FedYogi (Reddi et al., Algorithm 2): m ← β₁·m + (1 − β₁)·Δ; v by the
    rule's ``_second_moment``; x ← x + η·m / (√v + τ); m₀ = 0 and v₀ = τ², as in the paper. No bias
    correction, as in the paper (Flower's FedAdam adds one)."""

    server_lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    DEFAULT_SERVER_LR: ClassVar[float] = 0.01
    #: FedAdagrad sums the squares and has no β₂.
    USES_BETA2: ClassVar[bool] = True
    SUMMARY_TAIL: ClassVar[str] = (
        " Waits for K updates and takes their sample-weighted mean move from the global model as the pseudo-gradient "
        "of an adaptive server step (Reddi et al., Adaptive Federated Optimization). Clients wait for the next version.")
    HELP: ClassVar[dict[str, str]] = {
        "updates": _Buffered.HELP["updates"],
        "server_lr": "Server learning rate η in (0, 10] (default 0.01): x ← x + η·m / (√v + τ), so every coordinate "
                     "moves by at most about η per round.",
        "beta1": "First-moment decay β₁ in [0, 1) (default 0.9): m ← β₁·m + (1 − β₁)·Δ.",
        "beta2": "Second-moment decay β₂ in [0, 1) (default 0.99).",
        "tau": "Adaptivity τ in (0, 1] (default 0.001): added to √v, and v starts at τ²; larger is closer to "
               "plain momentum.",
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> _Adaptive:
        reader, updates, server_lr = cls._reader(params)
        beta1 = reader.number("beta1", 0.9, low=0.0, high=1.0)
        beta2 = reader.number("beta2", 0.99, low=0.0, high=1.0) if cls.USES_BETA2 else 0.0
        tau = reader.number("tau", 1e-3, low=0.0, high=1.0, low_open=True)
        reader.done()
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if value == 1.0:
                raise StrategyError(f"{cls.name}: parameter {name!r} must be below 1, got 1.0")
        return cls(updates, server_lr, beta1, beta2, tau, dp=reader.dp)

    def params(self) -> dict[str, Any]:
        params = {**super().params(), "beta1": self.beta1}
        if self.USES_BETA2:
            params["beta2"] = self.beta2
        return {**params, "tau": self.tau}

    def initial_state(self, genesis: Sequence[np.ndarray]) -> ServerState:
        tau2 = _f32(self.tau * self.tau)
        return ServerState(tuple(np.zeros_like(x, FLOAT) for x in genesis),
                           tuple(np.full_like(x, tau2, FLOAT) for x in genesis))

    def _optimize(self, current: Weights, delta: Weights, state: ServerState) -> tuple[Weights, ServerState]:
        keep, take = _f32(self.beta1), _f32(1.0 - self.beta1)
        m = [keep * m + take * d for m, d in zip(state.m, delta, strict=True)]
        v = [self._second_moment(v, d * d) for v, d in zip(state.v, delta, strict=True)]
        rate, tau = _f32(self.server_lr), _f32(self.tau)
        result = [x + rate * mx / (np.sqrt(vx) + tau) for x, mx, vx in zip(current, m, v, strict=True)]
        return result, ServerState(tuple(m), tuple(v))

    @abstractmethod
    def _second_moment(self, v: np.ndarray, squared: np.ndarray) -> np.ndarray:
        """v after a round whose squared pseudo-gradient is ``squared`` = Δ²."""


@dataclass(frozen=True)
class FedAdagrad(_Adaptive):
    """v ← v + Δ² (β₂ is not used)."""

    name: ClassVar[str] = "fedadagrad"
    USES_BETA2: ClassVar[bool] = False
    SUMMARY: ClassVar[str] = "FedAdagrad: v ← v + Δ²." + _Adaptive.SUMMARY_TAIL
    HELP: ClassVar[dict[str, str]] = {k: v for k, v in _Adaptive.HELP.items() if k != "beta2"}

    def _second_moment(self, v: np.ndarray, squared: np.ndarray) -> np.ndarray:
        return v + squared


@dataclass(frozen=True)
class FedAdam(_Adaptive):
    """v ← β₂·v + (1 − β₂)·Δ²."""

    name: ClassVar[str] = "fedadam"
    SUMMARY: ClassVar[str] = "FedAdam: v ← β₂·v + (1 − β₂)·Δ²." + _Adaptive.SUMMARY_TAIL

    def _second_moment(self, v: np.ndarray, squared: np.ndarray) -> np.ndarray:
        return _f32(self.beta2) * v + _f32(1.0 - self.beta2) * squared


@dataclass(frozen=True)
class FedYogi(_Adaptive):
    """v ← v − (1 − β₂)·Δ²·sign(v − Δ²): v grows no faster than additively (Zaheer et al.)."""

    name: ClassVar[str] = "fedyogi"
    SUMMARY: ClassVar[str] = "FedYogi: v ← v − (1 − β₂)·Δ²·sign(v − Δ²)." + _Adaptive.SUMMARY_TAIL

    def _second_moment(self, v: np.ndarray, squared: np.ndarray) -> np.ndarray:
        return v - _f32(1.0 - self.beta2) * squared * np.sign(v - squared)


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


_CLASSES: tuple[type[Strategy], ...] = (FedAvg, Mix, FedAsync, FedBuff, Median, TrimmedMean, Krum, MultiKrum,
                                        FedAvgM, FedAdagrad, FedAdam, FedYogi)

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

    The rules that support differential privacy list its ``dp_*`` parameters too (``dp_clip``'s
    default, 0, is off). A parameter used only with some staleness functions (``b`` by hinge) carries ``when``:
    ``{"staleness": [functions that read it]}``; its default is the one of those functions.
    """
    catalogue = []
    for cls in _CLASSES:
        defaults = make_strategy(cls.name).params()
        if "staleness" in defaults:  # the hinge function adds b
            defaults = {**make_strategy(cls.name, {"staleness": "hinge"}).params(), **defaults}
        if cls.SUPPORTS_DP:  # off by default, so absent from the description: listed with their defaults
            defaults = {**defaults, **Privacy(0.0, Privacy.DEFAULT_NOISE_MULTIPLIER, Privacy.DEFAULT_DELTA).params()}
        parameters = []
        for name, default in defaults.items():
            value_type = "choice" if isinstance(default, str) else "integer" if isinstance(default, int) else "number"
            parameters.append({
                "name": name, "default": default, "value_type": value_type, "description": {**cls.HELP, **Privacy.HELP}.get(name, ""),
                "choices": list(Staleness.FUNCTIONS) if name == "staleness" else [],
                "when": {"staleness": list(Staleness.USED_BY[name])} if name in Staleness.USED_BY else {},
            })
        strategy = make_strategy(cls.name)
        catalogue.append({"name": cls.name, "description": cls.SUMMARY, "updates_per_round": strategy.updates_per_round,
                          "discounts_staleness": cls.discounts_staleness, "parameters": parameters})
    return catalogue
