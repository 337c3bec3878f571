"""Sharing one dataset among clients: full copy, random split, by technology (non-IID)."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.usecases.rat.generator import CLASSES, plan
from kafkaml.usecases.rat.partition import client_classes, client_dataset, client_streams

SAMPLES, SEED = 240, 6


def shares(mode: str, clients: int) -> list[np.ndarray]:
    layout = plan(SAMPLES, SEED)
    return [client_streams(layout, mode, i, clients) for i in range(1, clients + 1)]


def test_full_copy_gives_every_client_the_identical_dataset():
    first = client_dataset(48, SEED, "full-copy", 1, 3)
    third = client_dataset(48, SEED, "full-copy", 3, 3)
    np.testing.assert_array_equal(first.x, third.x)
    np.testing.assert_array_equal(first.y, third.y)
    np.testing.assert_array_equal(first.snr_db, third.snr_db)


@pytest.mark.parametrize("mode", ["random-split", "by-technology"])
@pytest.mark.parametrize("clients", [2, 3, 8])
def test_split_modes_are_disjoint_and_cover_the_dataset(mode, clients):
    parts = shares(mode, clients)
    joined = np.concatenate(parts)
    assert joined.size == np.unique(joined).size == plan(SAMPLES, SEED).streams


def test_random_split_shares_are_about_equal_and_mix_all_classes():
    layout = plan(2400, SEED)
    for part in (client_streams(layout, "random-split", i, 3) for i in (1, 2, 3)):
        assert abs(part.size - layout.streams / 3) <= 1
        assert set(layout.classes[part].tolist()) == set(range(len(CLASSES)))


def test_by_technology_gives_each_client_only_its_own_classes():
    layout = plan(SAMPLES, SEED)
    for index, part in enumerate(shares("by-technology", 3), start=1):
        assert set(layout.classes[part].tolist()) == set(client_classes(index, 3))
    data = client_dataset(SAMPLES, SEED, "by-technology", 2, 3, windows_per_stream=4)
    assert set(data.y.tolist()) == {CLASSES.index("wifi"), CLASSES.index("itsg5")}


def test_a_clients_share_is_the_same_windows_as_in_the_whole_dataset():
    whole = client_dataset(64, SEED, "full-copy", 1, 1)
    part = client_dataset(64, SEED, "random-split", 2, 4)
    rows = [np.flatnonzero(whole.stream == s)[k] for s in np.unique(part.stream)
            for k in range(np.sum(part.stream == s))]
    np.testing.assert_array_equal(part.x, whole.x[rows])


def test_every_class_has_an_owner_and_every_client_two_classes_or_more():
    for clients in range(1, 13):
        owned = [client_classes(i, clients) for i in range(1, clients + 1)]
        assert set().union(*owned) == set(range(len(CLASSES)))
        assert min(len(classes) for classes in owned) >= 2


@pytest.mark.parametrize("mode, index, clients, message", [
    ("sideways", 1, 2, "unknown mode"),
    ("random-split", 0, 2, "counted from 1"),
    ("random-split", 3, 2, "client index"),
    ("random-split", 1, 0, "clients must be at least 1"),
])
def test_bad_client_settings_are_refused(mode, index, clients, message):
    with pytest.raises(ValueError, match=message):
        client_streams(plan(SAMPLES, SEED), mode, index, clients)
