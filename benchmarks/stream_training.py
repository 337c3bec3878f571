"""Training throughput fed from Kafka vs from memory: a small CNN on the paper's 2x880x1 input.

The same samples train the same model (same initial weights, batch size and shuffle buffer) once
from an in-memory ``tf.data`` pipeline over numpy arrays and once from
:func:`kafkaml.streams.split_dataset` reading a private broker. The first epoch of each run
(graph tracing, warm-up) is not timed; the figure is samples per second over the other epochs,
the best of ``--rounds`` alternating runs, so a burst of load from elsewhere on the machine does
not decide the ratio.

    .venv/bin/python benchmarks/stream_training.py --json out/stream_training.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from rich.console import Console
from rich.table import Table

from kafkaml import kafka
from kafkaml.local import stack as local
from kafkaml.schemas import DataControl, read_control
from kafkaml.sinks import RawSink
from kafkaml.streams import split_dataset

INPUT_SHAPE = (2, 880, 1)
CLASSES = 6


def small_cnn(seed: int) -> keras.Model:
    """The paper's CNN layout (three 'same' convolutions, one pooling, dense 64, softmax over 6)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for filters, kernel in ((32, (1, 3)), (16, (2, 3)), (8, (2, 3))):
        x = keras.layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Dropout(0.25)(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_samples(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy tones whose frequency depends on the class: learnable, so training is real work."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, count)
    t = np.arange(INPUT_SHAPE[1])
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    tone = 2 * np.pi * (labels[:, None] + 1) * t / 64 + phase
    samples = np.stack([np.cos(tone), np.sin(tone)], axis=1)[..., None] + rng.normal(0, 1.0, (count, *INPUT_SHAPE))
    return samples.astype(np.float32), labels.astype(np.int64)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None) -> None:
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def throughput(dataset: tf.data.Dataset, samples: int, epochs: int, initial: list[np.ndarray]) -> float:
    """Samples per second of epochs 2..N (the first one traces the graph)."""
    model = small_cnn(seed=1)
    model.set_weights(initial)
    timer = EpochTimer()
    model.fit(dataset, epochs=epochs, callbacks=[timer], shuffle=False, verbose=0)
    return samples * (epochs - 1) / sum(timer.seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3072)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shuffle-buffer", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()
    kafka.require_fast_crc()

    x, y = make_samples(args.samples)
    initial = small_cnn(seed=1).get_weights()
    memory = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(args.shuffle_buffer, seed=0)
              .batch(args.batch).prefetch(2))
    results: dict[str, list[float]] = {"memory": [], "kafka": []}
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as run_dir:
        stack = local.up(0, Path(run_dir))
        try:
            bootstrap = stack.bootstrap("platform")
            control_topic = f"bench-control-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            with RawSink(bootstrap, f"bench-iq-{uuid.uuid4().hex[:8]}", control_topic=control_topic) as sink:
                sink.send_many(x, y)
            sink_seconds = time.perf_counter() - started
            control = next(read_control(bootstrap, control_topic, expected=DataControl, idle_timeout_s=5)).message
            streamed = split_dataset(control, "train", bootstrap, batch_size=args.batch,
                                     shuffle_buffer=args.shuffle_buffer, seed=0)
            for _ in range(args.rounds):
                results["memory"].append(throughput(memory, args.samples, args.epochs, initial))
                results["kafka"].append(throughput(streamed, args.samples, args.epochs, initial))
        finally:
            local.down(Path(run_dir))

    best = {name: max(values) for name, values in results.items()}
    figures = {
        "kafka_over_memory_throughput": round(best["kafka"] / best["memory"], 3),
        "memory_samples_per_s": round(best["memory"], 1),
        "kafka_samples_per_s": round(best["kafka"], 1),
        "sink_samples_per_s": round(args.samples / sink_seconds, 1),
        "samples": args.samples,
        "sample_bytes": int(np.prod(INPUT_SHAPE)) * 4,
        "epochs_timed": args.epochs - 1,
        "batch": args.batch,
        "shuffle_buffer": args.shuffle_buffer,
    }
    table = Table(title=f"small CNN on {INPUT_SHAPE}: training samples/s (best of {args.rounds}, "
                        f"{args.samples} samples, batch {args.batch}, shuffle buffer {args.shuffle_buffer})")
    table.add_column("input")
    table.add_column("runs (samples/s)", justify="right")
    table.add_column("best", justify="right")
    for name, values in results.items():
        table.add_row(name, ", ".join(f"{v:.0f}" for v in values), f"{best[name]:.0f}")
    table.add_row("kafka / memory", "", f"{figures['kafka_over_memory_throughput']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"sink (spool + publish) rate: {figures['sink_samples_per_s']:.0f} samples/s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
