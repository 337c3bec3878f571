"""The server optimizers (Reddi et al.): the updates' mean move is a pseudo-gradient that a server
optimizer steps, its moments carried in :class:`~kafkaml.strategies.base.ServerState` (FedAvgM,
FedAdagrad, FedAdam, FedYogi)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kafkaml.strategies.averaging import _Buffered, _keep_statistics
from kafkaml.strategies.base import (
    FLOAT,
    ServerState,
    StrategyError,
    Update,
    Weights,
    _f32,
    _weighted_sum,
    private_move,
)


def _pseudo_gradient(current: Weights, updates: Sequence[Update]) -> Weights:
    """Δ = Σ_k (n_k / Σn)·(y_k − x): FedAvg's average move, the server optimizers' (negated) gradient."""
    total = sum(int(update.samples) for update in updates)
    moves = [[y - x for x, y in zip(current, u.weights, strict=True)] for u in updates]
    return _weighted_sum([int(u.samples) / total for u in updates], moves)


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
