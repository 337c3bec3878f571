"""What the ServerApp and the ClientApp share: the paper's CNN, compiled as our engine compiles it,
and the benchmark's data files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def compiled_model():
    """The paper's CNN with its compile arguments (Adam, sparse categorical cross-entropy)."""
    from kafkaml.usecases.rat.model import build

    model, compile_args, _ = build()
    model.compile(**compile_args)
    return model


def load(data_dir: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``<data_dir>/<name>.npz``: windows ``x`` and labels ``y``."""
    with np.load(Path(data_dir) / f"{name}.npz") as arrays:
        return arrays["x"], arrays["y"]
