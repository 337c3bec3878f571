"""How one generated dataset is shared among federated clients: full copy, random split, by technology.

All three modes start from the same dataset plan (``samples`` windows, seed ``seed``) and hand
out whole streams, so each client generates only its own streams, and windows of one stream
never reach two clients:

* ``full-copy``: every client gets the whole dataset, identical (the paper's first setting).
* ``random-split``: streams are dealt at random into ``clients`` disjoint shares that together
  cover the dataset (the paper's second setting).
* ``by-technology``: non-IID, like vehicles that each meet "a specific combination of
  technologies": client ``i`` owns a run of consecutive classes (see :func:`client_classes`),
  and each stream goes to one random client owning its class. Disjoint and covering too.

Clients are counted from 1, like the local stack's ``client-1``..``client-n``.
"""

from __future__ import annotations

import math

import numpy as np

from kafkaml.usecases.rat.generator import CLASSES, TRAINING, WINDOWS_PER_STREAM, Plan, generate_iq, plan
from kafkaml.usecases.rat.names import MODES
from kafkaml.usecases.rat.preprocess import RatDataset, featurise


def check_client(client_index: int, clients: int) -> None:
    for name, value in (("clients", clients), ("client index", client_index)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    if not 1 <= client_index <= clients:
        raise ValueError(f"client index must be in 1..{clients} (counted from 1), got {client_index}")


def client_classes(client_index: int, clients: int) -> list[int]:
    """Labels client ``client_index`` (1-based) sees in by-technology mode.

    Each client owns ``max(2, ceil(6 / clients))`` consecutive classes (wrapping), starting at
    ``floor((i - 1) · 6 / clients)``: two clients split 3 + 3, three get pairs, eight get
    overlapping pairs; every class has at least one owner and every client at least two classes.
    """
    check_client(client_index, clients)
    count = min(len(CLASSES), max(2, math.ceil(len(CLASSES) / clients)))
    start = (client_index - 1) * len(CLASSES) // clients
    return [(start + k) % len(CLASSES) for k in range(count)]


def client_streams(layout: Plan, mode: str, client_index: int, clients: int) -> np.ndarray:
    """Indices of the plan's streams that belong to the client (sorted)."""
    check_client(client_index, clients)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "full-copy":
        return np.arange(layout.streams)
    rng = np.random.default_rng([layout.seed, layout.purpose, 3, clients])
    if mode == "random-split":
        owner = rng.permutation(layout.streams) % clients + 1
    else:
        owners = [[i for i in range(1, clients + 1) if label in client_classes(i, clients)]
                  for label in range(len(CLASSES))]
        draws = rng.integers(0, 1 << 30, layout.streams)
        owner = np.array([owners[label][draw % len(owners[label])]
                          for label, draw in zip(layout.classes, draws, strict=True)])
    return np.flatnonzero(owner == client_index)


def client_dataset(samples: int, seed: int, mode: str, client_index: int, clients: int, *,
                   classes: list[str] | None = None, windows_per_stream: int = WINDOWS_PER_STREAM,
                   **options) -> RatDataset:
    """The client's share of the ``samples``-window dataset of ``seed``, as model-ready features.

    ``options`` are those of :func:`generator.generate_iq` (window, snr_range, snr_grid, ...).
    """
    layout = plan(samples, seed, classes=classes, windows_per_stream=windows_per_stream, purpose=TRAINING)
    streams = client_streams(layout, mode, client_index, clients)
    return featurise(generate_iq(samples, seed, classes=classes, windows_per_stream=windows_per_stream,
                                 streams=streams, **options))
