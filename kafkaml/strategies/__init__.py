"""Aggregation strategies: how client updates become the next global model.

The rules live by family — :mod:`~kafkaml.strategies.asynchronous` (FedAsync, Mix),
:mod:`~kafkaml.strategies.averaging` (FedAvg, FedBuff), :mod:`~kafkaml.strategies.robust` (median,
trimmed mean, Krum, Multi-Krum) and :mod:`~kafkaml.strategies.optimizers` (FedAvgM, FedAdagrad,
FedAdam, FedYogi) — over what they share in :mod:`~kafkaml.strategies.base`; this module names
them (:data:`STRATEGIES`, :func:`make_strategy`) and describes them for people choosing one.

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

import json
from collections.abc import Callable, Mapping
from typing import Any

from kafkaml.strategies.asynchronous import FedAsync, Mix
from kafkaml.strategies.averaging import FedAvg, FedBuff
from kafkaml.strategies.base import (
    FLOAT,
    InvalidUpdate,
    Privacy,
    ServerState,
    Staleness,
    Strategy,
    StrategyError,
    Update,
    Weights,
    check_weights,
    clipped_norm,
    noise_seed,
    private_move,
)
from kafkaml.strategies.optimizers import FedAdagrad, FedAdam, FedAvgM, FedYogi
from kafkaml.strategies.robust import Krum, Median, MultiKrum, TrimmedMean

__all__ = [
    "FLOAT", "STRATEGIES", "FedAdagrad", "FedAdam", "FedAsync", "FedAvg", "FedAvgM", "FedBuff", "FedYogi",
    "InvalidUpdate", "Krum", "Median", "Mix", "MultiKrum", "Privacy", "ServerState", "Staleness", "Strategy",
    "StrategyError", "TrimmedMean", "Update", "Weights", "check_weights", "check_rounds_fill", "clipped_norm",
    "make_strategy",
    "noise_seed", "private_move", "strategy_catalogue", "strategy_from_description",
]


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


def check_rounds_fill(strategy: Strategy, clients: int) -> None:
    """StrategyError when a version needs more updates than ``clients`` can queue at once.

    Each client has at most one update pending (the contract reverts ``UpdatePending``; the classic
    replay skips a second one), so a round of more updates than clients could never fill: the
    training would wait until its stop timeout and close without a single version.
    """
    needed = strategy.updates_per_round
    if needed > clients:
        raise StrategyError(f"{strategy.name} makes each version from {needed} updates, but the training has "
                            f"{clients} client(s), each with at most one update pending at a time: no version "
                            f"could ever be made; set updates to at most {clients}")


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
