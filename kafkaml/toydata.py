"""A small, learnable, deterministic dataset for fast end-to-end runs and tests.

Gaussian clusters, one per class, in a few dimensions: a tiny dense network separates them in a
couple of epochs on a CPU, so a full federated run with real brokers, a real chain and real
TensorFlow finishes in seconds while still showing whether learning happens.
"""

from __future__ import annotations

import numpy as np

TOY_FEATURES = 8
TOY_CLASSES = 3


def toy_blobs(samples: int, seed: int, *, features: int = TOY_FEATURES, classes: int = TOY_CLASSES,
              spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` points (float32, shape (samples, features)) and integer labels in [0, classes).

    Cluster centres depend only on ``features`` and ``classes`` (not on ``seed``), so datasets
    drawn with different seeds — one per client, one for validation — describe the same task.
    """
    if samples <= 0:
        raise ValueError(f"samples must be positive, got {samples}")
    if classes < 2 or features < 1:
        raise ValueError("toy_blobs needs at least 2 classes and 1 feature")
    centres = np.random.default_rng(12345).normal(0.0, 3.0, size=(classes, features))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=samples)
    points = centres[labels] + rng.normal(0.0, spread, size=(samples, features))
    return points.astype(np.float32), labels.astype(np.int64)


TOY_MODEL_SOURCE = f'''
import keras

model = keras.Sequential([
    keras.Input(shape=({TOY_FEATURES},)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense({TOY_CLASSES}, activation="softmax"),
])
compile_args = {{
    "optimizer": keras.optimizers.Adam(learning_rate=0.01),
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
}}
'''
