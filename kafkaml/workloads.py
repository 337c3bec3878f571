"""Workloads for local runs: a model source, each client's data, the platform's validation data and
a held-out test set (with SNR per sample where the use case has one).

``toy`` is a few Gaussian clusters and a tiny dense network: a complete federated run in
seconds, for tests. ``rat`` is the paper's use case: wireless technology recognition from IQ
samples with the paper's CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where data is made: the CLI's parsers need only the names below
    import numpy as np

SPLIT_MODES = ("full-copy", "random-split", "by-technology")


@dataclass(frozen=True)
class Samples:
    x: np.ndarray
    y: np.ndarray
    snr_db: np.ndarray | None = None

    def __len__(self) -> int:
        return int(len(self.y))


@dataclass(frozen=True)
class Workload:
    name: str
    model_source: str
    classes: int
    clients: list[Samples]
    validation: Samples
    test: Samples


def toy_workload(clients: int, samples: int, seed: int, mode: str = "random-split") -> Workload:
    """Clusters: ``samples`` in all, each client a copy (full-copy) or a disjoint share (random-split)."""
    import numpy as np

    from kafkaml.toydata import TOY_CLASSES, TOY_MODEL_SOURCE, toy_blobs

    if mode not in SPLIT_MODES[:2]:
        raise ValueError(f"the toy workload supports {', '.join(SPLIT_MODES[:2])}, not {mode!r}")
    x, y = toy_blobs(samples, seed)
    if mode == "full-copy":
        shares = [Samples(x, y) for _ in range(clients)]
    else:
        parts = np.array_split(np.random.default_rng(seed).permutation(samples), clients)
        shares = [Samples(x[part], y[part]) for part in parts]
    held_out = max(200, samples // 4)
    return Workload(
        name="toy", model_source=TOY_MODEL_SOURCE, classes=TOY_CLASSES, clients=shares,
        validation=Samples(*toy_blobs(held_out, seed + 10_000)),
        test=Samples(*toy_blobs(held_out, seed + 20_000)),
    )


def rat_workload(clients: int, samples: int, seed: int, mode: str = "random-split",
                 validation_samples: int = 1200, test_samples: int = 2400) -> Workload:
    """IQ windows: ``samples`` in all, shared among clients by ``mode`` (full copy: each gets all)."""
    import numpy as np

    from kafkaml.usecases.rat.generator import CLASSES
    from kafkaml.usecases.rat.model import model_source
    from kafkaml.usecases.rat.partition import client_dataset
    from kafkaml.usecases.rat.preprocess import validation_set

    def as_samples(data) -> Samples:
        return Samples(data.x, data.y, data.snr_db)

    shares = [as_samples(client_dataset(samples, seed, mode, index, clients)) for index in range(1, clients + 1)]
    held_out = validation_set(validation_samples + test_samples, seed + 1)
    order = np.random.default_rng(seed).permutation(len(held_out))
    return Workload(
        name="rat", model_source=model_source(), classes=len(CLASSES), clients=shares,
        validation=as_samples(held_out.subset(order[:validation_samples])),
        test=as_samples(held_out.subset(order[validation_samples:])),
    )


WORKLOADS = {"toy": toy_workload, "rat": rat_workload}


def make_workload(name: str, clients: int, samples: int, seed: int, mode: str) -> Workload:
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}")
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}; choose one of {', '.join(SPLIT_MODES)}")
    if clients < 1 or samples < clients:
        raise ValueError(f"need at least one client and one sample per client, got {clients} and {samples}")
    return WORKLOADS[name](clients, samples, seed, mode)
