"""The single training job (``python -m training_worker.single``): one model trained on one of the
platform's datasources, not federated — the earlier Kafka-ML's everyday training — reported
through the same results interface as a federated training.

1. Rebuild the user's model from the builder's checked Keras JSON (never user code) and read the
   datasource description the platform chose (pinned by place and SHA-256).
2. Train EPOCHS over the training split, streamed from Kafka each epoch through a bounded shuffle;
   after each epoch the validation split's metrics are reported as a version (epoch n is
   version n), so the results' chart, rounds and API read it as they read a federated training.
3. Measure the test split (loss, metrics and, for a classifier, the confusion matrix: rows are
   true classes, columns predicted ones), then send the final model file and metrics.

**Incremental** (INCREMENTAL=true): after step 2, keep reading the datasource's partition past
its described ranges, WINDOW_SIZE records at a time. Each window's newest VALIDATION_RATE is held
out; the rest trains a candidate from the served weights for EPOCHS. The candidate becomes the
next version (its model file sent at once, so a stopped training keeps its newest served model)
only when MONITOR_METRIC on the window's held-out records beats the served model's on the same
records by more than IMPROVEMENT; otherwise the served weights stay. A record that is not a
sample of the datasource is skipped and counted, never the end of the training. The training
ends after STREAM_TIMEOUT seconds without a record (0: when stopped); then step 3 runs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kafkaml import kafka
from kafkaml.architecture import ArchitectureError, check_input_shape, rebuild
from kafkaml.codecs import SampleError, codec_for
from kafkaml.config import ConfigError
from kafkaml.logs import configure as configure_logging
from kafkaml.messages.kinds import DataControl, OffsetRange
from kafkaml.streams import StreamError, iterate_batches, read_range, split_dataset
from training_worker.announcement import AnnouncementError, find_datasource
from training_worker.results import FinalReport, ResultsSink, RoundReport, open_sink
from training_worker.settings import IncrementalSettings, SingleSettings, load_single_settings

log = logging.getLogger("training_worker.single")

#: Samples mixed by the training split's shuffle buffer (bounded memory, whatever the dataset).
SHUFFLE_BUFFER = 4096


class SingleTraining:
    def __init__(self, settings: SingleSettings) -> None:
        self.settings = settings
        self.training = settings.training
        self.started = time.monotonic()
        keras.utils.set_random_seed(self.training.seed)
        stream = settings.stream
        if stream.datasource_id is None:
            raise ConfigError("DATASOURCE_ID is required: the platform's datasource to train on")
        self.data, _ = find_datasource(stream.bootstrap_servers, stream.control_topic, stream.datasource_id,
                                       self.training.start_timeout_s, sha256=stream.datasource_sha256,
                                       at=stream.datasource_pin)
        check_input_shape(settings.model.input_shape, self.data.input_shape)
        self.model = rebuild(settings.model.architecture, settings.model.compile_config)
        self.bootstrap = stream.bootstrap_servers
        self.sink: ResultsSink = open_sink(settings.results, sender="single")
        self.directory = Path(settings.results.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.version = 0

    def run(self) -> int:
        history = self.train_epochs()
        increments = self.train_incrementally(self.settings.incremental) if self.settings.incremental else None
        self.finish(history, increments)
        return 0

    def train_epochs(self) -> dict[str, list[float]]:
        """EPOCHS over the training split, each epoch's validation reported as a version."""
        data, batch = self.data, self.training.batch
        train = split_dataset(data, "train", self.bootstrap, batch_size=batch,
                              shuffle_buffer=min(max(data.count("train"), 1), SHUFFLE_BUFFER), seed=self.training.seed)
        validation = self.in_memory("validation")
        model_file = self.directory / "model.keras"

        def report(epoch: int, logs: dict[str, Any]) -> None:
            self.version = epoch + 1
            self.report(logs.get("val_loss"), _accuracy(logs, "val_"))

        # The datasource's own split is the validation, and the stream's buffer shuffles.
        fit_kwargs = {k: v for k, v in self.training.fit_kwargs.items() if k not in ("validation_split", "shuffle")}
        history = self.model.fit(train, epochs=self.training.epochs, verbose=0,
                                 validation_data=validation if len(validation[0]) else None,
                                 callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=report)], **fit_kwargs)
        self.model.save(model_file)
        return {name: [float(value) for value in values] for name, values in history.history.items()}

    def train_incrementally(self, incremental: IncrementalSettings) -> dict[str, int]:
        """Windows of the records that arrive after the datasource's ranges; see the module docstring."""
        served_weights = self.model.get_weights()
        windows = served = skipped = 0
        for window, bad in follow_windows(self.data, self.bootstrap, incremental.window,
                                          incremental.stream_timeout_s or None):
            windows += 1
            skipped += bad
            x, y = window
            held = int(round(len(x) * self.data.validation_rate)) if len(x) > 1 else 0
            held = min(max(held, 1 if self.data.validation_rate else 0), len(x) - 1)
            train_x, train_y, val_x, val_y = x[:len(x) - held], y[:len(y) - held], x[len(x) - held:], y[len(y) - held:]
            served_score = self.measure(served_weights, val_x, val_y, incremental.monitor_metric) if held else None
            self.model.set_weights(served_weights)
            self.model.fit(train_x, train_y, epochs=self.training.epochs, batch_size=self.training.batch, verbose=0,
                           **{k: v for k, v in self.training.fit_kwargs.items() if k != "validation_split"})
            if held:
                scores = self.evaluate(val_x, val_y)
                candidate = scores.get(incremental.monitor_metric.removeprefix("val_"))
                if candidate is None:
                    raise ConfigError(f"MONITOR_METRIC={incremental.monitor_metric!r} is not a metric of this model "
                                      f"(it measures {', '.join('val_' + name for name in scores)})")
            else:
                scores, candidate = {}, None
            if candidate is None or incremental.improves(candidate, served_score):
                served_weights = self.model.get_weights()
                served += 1
                self.version += 1
                self.model.save(self.directory / "model.keras")
                self.sink.model(self.directory / "model.keras")
                self.report(scores.get("loss"), scores.get("accuracy"))
                log.info("increment %d (%d records) served as version %d", windows, len(x), self.version)
            else:
                log.info("increment %d (%d records) not served: %s %.4f against the served %.4f", windows, len(x),
                         incremental.monitor_metric, candidate, served_score)
        self.model.set_weights(served_weights)
        return {"windows": windows, "served": served, "skipped_records": skipped}

    def finish(self, history: dict[str, list[float]], increments: dict[str, int] | None) -> None:
        """Test metrics and the confusion matrix, then the model file and the final record."""
        metrics: dict[str, Any] = {"history": history}
        split = "test" if self.data.count("test") else "validation"
        x, y = self.in_memory(split)
        if len(x):
            metrics.update({f"{split}_{name}": value for name, value in self.evaluate(x, y).items()})
            matrix = confusion_matrix(self.model, x, y)
            if matrix is not None:
                metrics["confusion_matrix"] = matrix
                metrics["confusion_matrix_split"] = split
        model_file = self.directory / "model.keras"
        self.model.save(model_file)
        extra: dict[str, Any] = {"kind": "incremental" if increments is not None else "single",
                                 "versions": self.version,
                                 "samples": {name: self.data.count(name) for name in ("train", "validation", "test")}}
        if increments is not None:
            extra["increments"] = increments
        self.sink.final(FinalReport(metrics=metrics, model_path=str(model_file),
                                    elapsed_s=round(time.monotonic() - self.started, 3), extra=extra))
        self.sink.close(self.settings.results.delivery_timeout_s)
        log.info("single training finished after %d versions; model saved to %s", self.version, model_file)

    def report(self, loss: float | None, accuracy: float | None) -> None:
        self.sink.progress(RoundReport(self.version, loss, accuracy, round(time.monotonic() - self.started, 3)))

    def in_memory(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """A split (validation or test: small by design) as arrays."""
        batches = list(iterate_batches(self.data, split, self.bootstrap, batch_size=1024))
        if not batches:
            return (np.empty((0, *self.data.input_shape), self.data.input_dtype),
                    np.empty((0, *self.data.label_shape), self.data.label_dtype))
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        options = {"batch_size": self.training.batch, **self.training.val_kwargs}
        scores = self.model.evaluate(x, y, verbose=0, return_dict=True, **options)
        return {name: float(value) for name, value in scores.items()}

    def measure(self, weights: list, x: np.ndarray, y: np.ndarray, metric: str) -> float | None:
        current = self.model.get_weights()
        self.model.set_weights(weights)
        try:
            return self.evaluate(x, y).get(metric.removeprefix("val_"))
        finally:
            self.model.set_weights(current)


def _accuracy(logs: dict[str, Any], prefix: str) -> float | None:
    return next((float(v) for k, v in logs.items() if k.startswith(prefix) and "acc" in k), None)


def confusion_matrix(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list[list[int]] | None:
    """Counts of (true class, predicted class), or None when the model is no classifier: its labels
    must be class indices (integers) or one-hot rows as wide as its output."""
    outputs = int(model.output_shape[-1])
    if y.ndim >= 2 and y.shape[-1] == outputs > 1:
        truth = np.argmax(y, axis=-1)
    elif np.issubdtype(y.dtype, np.integer) and (y.ndim == 1 or y.shape[-1] == 1):
        truth = y.reshape(-1).astype(np.int64)
    else:
        return None
    predicted = model.predict(x, verbose=0)
    chosen = (predicted.reshape(-1) > 0.5).astype(np.int64) if outputs == 1 else np.argmax(predicted, axis=-1)
    if truth.min(initial=0) < 0:
        return None
    classes = max(outputs if outputs > 1 else 2, int(truth.max(initial=0)) + 1)
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (truth, chosen), 1)
    return matrix.tolist()


def follow_windows(data: DataControl, bootstrap: str, window: int,
                   idle_timeout_s: float | None) -> Iterator[tuple[tuple[np.ndarray, np.ndarray], int]]:
    """Windows of ``window`` samples from the records after the datasource's ranges on its
    partition, with how many records of each were skipped as not samples; a shorter last window
    when ``idle_timeout_s`` passes without a record (None: wait for ever)."""
    described = [r for split in ("train", "validation", "test") for r in data.ranges(split)]
    partition = described[0].partition if described else 0
    start = max((r.end for r in described if r.partition == partition), default=0)
    codec = codec_for(data)
    consumer = kafka.assigned_consumer(bootstrap)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    skipped = 0
    try:
        for record in read_range(consumer, data.topic, OffsetRange(partition, start, 2**62), idle_timeout_s,
                                 idle_ends=True):
            try:
                x, y = codec.decode(record.value, record.key)
            except SampleError as exc:
                skipped += 1
                log.warning("%s[%d]@%d is not a sample of the datasource, skipped: %s", data.topic, partition,
                            record.offset, exc)
                continue
            xs.append(x)
            ys.append(y)
            if len(xs) == window:
                yield (np.stack(xs), np.stack(ys)), skipped
                xs, ys, skipped = [], [], 0
        if xs:
            yield (np.stack(xs), np.stack(ys)), skipped
    finally:
        consumer.close()


def main() -> int:
    configure_logging()
    try:
        training = SingleTraining(load_single_settings())
    except (ConfigError, ArchitectureError, AnnouncementError) as exc:
        log.error("cannot start the single training: %s", exc)
        return 2
    try:
        return training.run()
    except StreamError as exc:
        log.error("the datasource cannot be read as described: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
