"""The aggregator keeps a server optimizer's state per version, for restarts (the kill-and-restart
run is in tests/integration/test_federated_training.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kafkaml.pointers import WeightsPointer
from kafkaml.strategies import ServerState, Update, make_strategy
from training_worker.aggregator import Aggregator, ServerStateLost
from training_worker.coordination.base import Version


def keeper(tmp_path: Path, strategy: str) -> Aggregator:
    """An aggregator reduced to what keeping the state reads (its constructor needs a whole platform)."""
    aggregator = Aggregator.__new__(Aggregator)
    aggregator.strategy = make_strategy(strategy, {"updates": 1})
    aggregator.state_directory = tmp_path / "server_state"
    return aggregator


def version(number: int, content_hash: bytes) -> Version:
    return Version(number, content_hash, WeightsPointer("kml-weights-t", 0, number, number + 1))


def test_the_kept_state_is_the_stepped_one_bit_for_bit(tmp_path: Path) -> None:
    aggregator = keeper(tmp_path, "fedyogi")
    genesis = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), np.ones(4, np.float32)]
    assert aggregator.load_state(version(0, b"\x00" * 32), genesis).digest() == \
        aggregator.strategy.initial_state(genesis).digest()
    update = Update([a * np.float32(1.5) for a in genesis], 10, 0)
    weights, state = aggregator.strategy.step(genesis, 0, [update], (), aggregator.strategy.initial_state(genesis))
    aggregator.save_state(b"\x01" * 32, state)
    aggregator.save_state(b"\x02" * 32, state)  # published, never recorded (the aggregator died)
    loaded = aggregator.load_state(version(1, b"\x01" * 32), weights)
    assert loaded.digest() == state.digest() and all(a.dtype == np.float32 for a in loaded.arrays())
    aggregator.prune_states(b"\x01" * 32)
    assert [path.name for path in aggregator.state_directory.iterdir()] == ["01" * 32 + ".npz"]


def test_a_lost_state_stops_the_resume(tmp_path: Path) -> None:
    aggregator = keeper(tmp_path, "fedavgm")
    with pytest.raises(ServerStateLost, match="state after version 3 is not in"):
        aggregator.load_state(version(3, b"\x03" * 32), [np.zeros(2, np.float32)])
    assert keeper(tmp_path, "fedavg").load_state(version(3, b"\x03" * 32), [np.zeros(2, np.float32)]) is None


def test_a_state_must_fit_the_model() -> None:
    arrays = [np.zeros(2, np.float32)] * 3
    with pytest.raises(ValueError, match="3 arrays does not fit a model of 2"):
        ServerState.from_arrays(arrays, 2)
    assert ServerState.from_arrays(arrays[:2], 1).v == (arrays[1],)
