"""The platform's own measurements: validation loss and accuracy of any set of weights.

Rewards and rejections rest on these numbers, never on what a client reports about itself. The
validation split is read from the platform's Kafka once and kept in memory (it is small and
fixed for the whole training), so every update and every aggregated model of a round is
measured on exactly the same samples.

It is also batched once, as a ``tf.data`` set: ``model.evaluate`` given numpy arrays builds a new
dataset from them on every call, which cost ten times the evaluation itself on the toy task
(67 ms of processor against 6 ms a call), and the aggregator scores every update and every version.
The batches are the ones ``evaluate`` would cut, with the dtypes it would cast to, so the scores
are the same to the bit (``tests/unit/test_screening.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kafkaml.messages.kinds import DataControl
from kafkaml.streams import iterate_batches


@dataclass(frozen=True)
class Score:
    loss: float
    accuracy: float | None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


class Validator:
    """Evaluates weights on a fixed validation set with one reusable model instance."""

    def __init__(self, model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> None:
        if len(x) == 0:
            raise ValueError("the platform's validation set is empty: rewards could not be measured")
        self.model = model
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.batches = tf.data.Dataset.from_tensor_slices((_as_evaluate_sees(x), _as_evaluate_sees(y))).batch(batch_size)

    @classmethod
    def from_stream(cls, model: keras.Model, control: DataControl, bootstrap: str, split: str = "validation",
                    batch_size: int = 256) -> Validator:
        batches = list(iterate_batches(control, split, bootstrap, batch_size=1024))
        if not batches:
            raise ValueError(f"datasource {control.datasource_id!r} has no {split!r} samples to validate on")
        x = np.concatenate([batch[0] for batch in batches])
        y = np.concatenate([batch[1] for batch in batches])
        return cls(model, x, y, batch_size)

    @property
    def classes(self) -> int:
        """The number of classes if the model is a classifier (one sigmoid unit: 2), for the
        screening rule's uninformed loss ln(classes); used only when a score has an accuracy."""
        return max(2, int(self.model.output_shape[-1]))

    def score(self, weights: Sequence[np.ndarray]) -> Score:
        self.model.set_weights(list(weights))
        results = self.model.evaluate(self.batches, verbose=0, return_dict=True)
        accuracy = next((float(v) for k, v in results.items() if "acc" in k), None)
        return Score(float(results["loss"]), accuracy)

    def predict_classes(self, weights: Sequence[np.ndarray]) -> np.ndarray:
        self.model.set_weights(list(weights))
        return np.argmax(self.model.predict(self.x, batch_size=self.batch_size, verbose=0), axis=-1)


def _as_evaluate_sees(array: np.ndarray) -> np.ndarray:
    """``array`` as ``model.evaluate`` passes numpy input on: floats in Keras' ``floatx``, the rest unchanged."""
    floatx = np.dtype(keras.backend.floatx())
    return array.astype(floatx) if np.issubdtype(array.dtype, np.floating) and array.dtype != floatx else array
