"""The paper's CNN for technology recognition, as the model source a user pastes into the UI.

The source defines ``model`` (a Keras model) and ``compile_args`` (keyword arguments for
``model.compile``), the contract of the platform's model editor. Input: 2×880×1 FFT features;
three convolution blocks (32 filters 1×3, 16 filters 2×3, 8 filters 2×3; 'same' padding, since
'valid' would shrink the height 2 to 0) each with ReLU, batch normalisation and dropout; one
2×2 max-pool; flatten (3,520); dense 64 with ReLU, batch normalisation and dropout; softmax over
the six classes. 229,966 trainable parameters, 230,206 with the batch-norm statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafkaml.usecases.rat.generator import CLASSES, DEFAULT_WINDOW

RAT_MODEL_SOURCE = '''
import keras
from keras import layers

WINDOW = {window}
CLASSES = {classes}
DROPOUT = {dropout}


def block(filters, kernel):
    return [
        layers.Conv2D(filters, kernel, padding="same", activation="relu"),
        layers.BatchNormalization(momentum=0.9),
        layers.Dropout(DROPOUT),
    ]


model = keras.Sequential(
    [keras.Input(shape=(2, WINDOW, 1))]
    + block(32, (1, 3))
    + block(16, (2, 3))
    + block(8, (2, 3))
    + [
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.BatchNormalization(momentum=0.9),
        layers.Dropout(DROPOUT),
        layers.Dense(CLASSES, activation="softmax"),
    ],
    name="rat_cnn",
)
compile_args = {{
    "optimizer": "adam",
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
}}
'''


def model_source(window: int = DEFAULT_WINDOW, dropout: float = 0.2) -> str:
    """The model source text for windows of ``window`` samples."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 4:
        raise ValueError(f"window must be an integer of at least 4 samples, got {window!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return RAT_MODEL_SOURCE.format(window=window, classes=len(CLASSES), dropout=dropout)


@dataclass(frozen=True)
class ModelReport:
    trainable_params: int
    total_params: int
    weight_bytes: int  # float32 weights, batch-norm statistics included


def build(source: str | None = None) -> tuple[Any, dict[str, Any], ModelReport]:
    """Run a model source (our own text by default) and report the model's size.

    Returns the uncompiled model, its compile arguments and a :class:`ModelReport`.
    """
    namespace: dict[str, Any] = {}
    exec(compile(source or model_source(), "<rat model source>", "exec"), namespace)  # noqa: S102 - our own text
    model, compile_args = namespace["model"], namespace["compile_args"]
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = sum(int(w.numpy().size) for w in model.weights)
    weight_bytes = sum(int(w.numpy().nbytes) for w in model.weights)
    return model, compile_args, ModelReport(trainable, total, weight_bytes)
