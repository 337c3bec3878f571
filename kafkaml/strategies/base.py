"""What every aggregation rule shares: an update, the server state, central differential
privacy, staleness functions, parameter checking, the :class:`Strategy` interface and the float32
arithmetic the audit re-derives bit for bit (see :mod:`kafkaml.strategies`)."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
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
