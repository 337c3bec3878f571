"""Simulated heterogeneous clients, for benchmarks and tests only: slower processors and dropouts.

Asynchronous aggregation is for federations where some clients are slow or disconnected; to
measure what it gains, a benchmark needs such clients on one machine. Two knobs make a client
behave like one, at a real cost in wall time (no clock is faked, so every part of the engine
waits for it as it would for a real slow client):

* **slowdown** ``f`` ≥ 1: after each local training the client waits (f − 1) × the seconds the
  training took before it submits, as a client whose processor is f times slower would. A wait
  in proportion to the measured fit keeps the factor right whatever the machine's load; the wait
  costs no CPU, so the other clients on the same cores do not slow down with it.
* **dropout**: after every ``dropout_after`` submitted updates the client goes offline for
  ``dropout_s`` seconds (it neither polls nor trains), then comes back and resumes from the
  newest global version, as a client that lost its connection does.

The trainer job is told them in its environment (``SIMULATED_*``: written by
:class:`kafkaml.jobs.contract.TrainerJob`, read by ``training_worker/settings.py``); the Flower app of ``benchmarks/vs_flower.py`` applies the same
slowdown inside its ClientApp. Both are off by default and never set by the platform's launchers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_SLOWDOWN = 1000.0
MAX_DROPOUT_S = 86400.0


@dataclass(frozen=True)
class Heterogeneity:
    """How one simulated client is slower or less available than the machine it runs on."""

    slowdown: float = 1.0
    dropout_after: int = 0
    dropout_s: float = 0.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.slowdown <= MAX_SLOWDOWN:
            raise ValueError(f"slowdown must be in [1, {MAX_SLOWDOWN:g}], got {self.slowdown}")
        if self.dropout_after < 0 or not 0.0 <= self.dropout_s <= MAX_DROPOUT_S:
            raise ValueError(f"dropout_after must be ≥ 0 and dropout_s in [0, {MAX_DROPOUT_S:g}], got "
                             f"{self.dropout_after} and {self.dropout_s}")
        if (self.dropout_after > 0) != (self.dropout_s > 0):
            raise ValueError("a dropout needs both how often (dropout_after > 0) and how long (dropout_s > 0)")

    @property
    def active(self) -> bool:
        return self.slowdown > 1.0 or self.dropout_after > 0

    def slow_down(self, fit_seconds: float, sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait (slowdown − 1) × ``fit_seconds``; returns the seconds waited."""
        wait = (self.slowdown - 1.0) * max(0.0, fit_seconds)
        if wait > 0:
            sleep(wait)
        return wait

    def drop_out(self, submitted: int, sleep: Callable[[float], None] = time.sleep) -> float:
        """After the ``submitted``-th update, go offline when the schedule says so; returns the seconds offline."""
        if self.dropout_after <= 0 or submitted <= 0 or submitted % self.dropout_after:
            return 0.0
        log.warning("simulated dropout: offline for %.1f s after %d updates", self.dropout_s, submitted)
        sleep(self.dropout_s)
        return self.dropout_s
