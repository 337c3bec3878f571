"""The trainer's wait for a new global version: back-off, closing, and no stall after a rejection."""

from __future__ import annotations

import time

import pytest

from kafkaml.pointers import WeightsPointer
from kafkaml.strategies import make_strategy
from training_worker.coordination.base import ClientCoordinator, ClientView, Version
from training_worker.trainer import keeps_training, wait_for_new_version

POINTER = WeightsPointer("weights", 0, 0, 1)


class Scripted(ClientCoordinator):
    """A coordinator whose version and phase follow a script of (seconds from start, state)."""

    identity = "client-1"

    def __init__(self, script: list[tuple[float, int | None, bool]], queued_until: float = 0.0) -> None:
        self.script, self.started, self.calls = script, time.monotonic(), 0
        self.queued_until = queued_until

    def view(self) -> ClientView:
        self.calls += 1
        number, active = self._state()
        latest = None if number is None else Version(number, b"\0" * 32, POINTER)
        return ClientView(latest, active, time.monotonic() - self.started < self.queued_until)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def _state(self) -> tuple[int | None, bool]:
        elapsed = time.monotonic() - self.started
        current = self.script[0]
        for entry in self.script:
            if entry[0] <= elapsed:
                current = entry
        return current[1], current[2]

    def submit(self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int) -> None:
        raise AssertionError("not used")


def test_returns_the_first_version_newer_than_the_last_trained() -> None:
    coordinator = Scripted([(0, None, False), (0.2, 3, True), (0.4, 4, True)])
    assert wait_for_new_version(coordinator, None, 5, 0.05).number == 3
    assert wait_for_new_version(coordinator, 3, 5, 0.05).number == 4
    assert coordinator.calls < 40, "polls must back off, not spin"


def test_returns_none_once_the_training_closed() -> None:
    assert wait_for_new_version(Scripted([(0, 2, True), (0.2, 2, False)]), 2, 5, 0.05) is None


def test_trains_the_same_version_again_when_nothing_new_comes() -> None:
    started = time.monotonic()
    version = wait_for_new_version(Scripted([(0, 2, True)]), 2, 5, 0.05, same_after_s=0.3)
    assert version.number == 2 and 0.3 <= time.monotonic() - started < 2


def test_trains_the_same_version_again_only_once_its_update_left_the_queue() -> None:
    """A synchronous round waits for the slow clients: a fast client whose update is still queued
    must not train the same version again (its second update would take a slow client's place)."""
    started = time.monotonic()
    coordinator = Scripted([(0, 2, True)], queued_until=0.8)
    assert wait_for_new_version(coordinator, 2, 5, 0.05, same_after_s=0.2).number == 2
    assert time.monotonic() - started >= 0.8


def test_times_out_without_any_version() -> None:
    with pytest.raises(TimeoutError, match="no global version newer than 1"):
        wait_for_new_version(Scripted([(0, 1, True)]), 1, 0.3, 0.05)


def test_waits_while_its_previous_update_is_still_queued() -> None:
    """One update in flight per client, whatever the strategy: a newer version waits too."""
    started = time.monotonic()
    coordinator = Scripted([(0, 3, True)], queued_until=0.4)
    assert wait_for_new_version(coordinator, 2, 5, 0.05).number == 3
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert wait_for_new_version(Scripted([(0, 3, True)], queued_until=0.4), None, 5, 0.05).number == 3
    assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("fedasync", {}, False),
        ("mix", {}, False),
        ("fedbuff", {"updates": 4}, True),
        ("fedbuff", {"updates": 1}, False),
        ("fedavg", {"updates": 8}, False),
        ("median", {"updates": 3}, False),
        ("trimmed_mean", {"updates": 5}, False),
    ],
)
def test_only_fedbuff_clients_keep_training_the_newest_version(name, params, expected):
    assert keeps_training(make_strategy(name, params)) is expected
