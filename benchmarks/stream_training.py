"""Training throughput fed from Kafka vs from memory: a small CNN on the paper's 2x880x1 input.

The same samples train one model (same batch size and shuffle buffer) from an in-memory
``tf.data`` pipeline over numpy arrays and from :func:`kafkaml.streams.split_dataset` reading a
private broker, one epoch of each in turn (``--pairs`` times, alternating which goes first),
after one untimed warm-up epoch of each (graph tracing). The machine is shared, so load from
elsewhere swings the absolute speed by 3x between minutes; the two epochs of a pair run seconds
apart under the same load, and the ratio reported is the median over pairs of
(Kafka samples/s) / (memory samples/s).

    .venv/bin/python benchmarks/stream_training.py --json out/stream_training.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from _report import write_figures
from _signals import sigterm_exits
from rich.console import Console
from rich.table import Table

from kafkaml import kafka
from kafkaml.control_topics import read_control
from kafkaml.local import stack as local
from kafkaml.messages.kinds import DataControl
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


def epoch_seconds(model: keras.Model, dataset: tf.data.Dataset) -> float:
    started = time.perf_counter()
    model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shuffle-buffer", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()
    kafka.require_fast_crc()

    x, y = make_samples(args.samples)
    memory = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(args.shuffle_buffer, seed=0)
              .batch(args.batch).prefetch(2))
    seconds: dict[str, list[float]] = {"memory": [], "kafka": []}
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
            model = small_cnn(seed=1)
            inputs = {"memory": memory, "kafka": streamed}
            for name in inputs:  # warm-up: trace the train function, open the first connections
                epoch_seconds(model, inputs[name])
            for pair in range(args.pairs):
                for name in (("memory", "kafka") if pair % 2 == 0 else ("kafka", "memory")):
                    seconds[name].append(epoch_seconds(model, inputs[name]))
        finally:
            local.down(Path(run_dir))

    rates = {name: [args.samples / value for value in values] for name, values in seconds.items()}
    ratios = [k / m for k, m in zip(rates["kafka"], rates["memory"], strict=True)]
    figures = {
        "kafka_over_memory_throughput": round(statistics.median(ratios), 3),
        "kafka_over_memory_min": round(min(ratios), 3),
        "kafka_over_memory_max": round(max(ratios), 3),
        "memory_samples_per_s_median": round(statistics.median(rates["memory"]), 1),
        "kafka_samples_per_s_median": round(statistics.median(rates["kafka"]), 1),
        "sink_samples_per_s": round(args.samples / sink_seconds, 1),
        "samples": args.samples,
        "sample_bytes": int(np.prod(INPUT_SHAPE)) * 4,
        "pairs": args.pairs,
        "batch": args.batch,
        "shuffle_buffer": args.shuffle_buffer,
    }
    table = Table(title=f"small CNN on {INPUT_SHAPE}: training samples/s per epoch ({args.samples} samples, "
                        f"batch {args.batch}, shuffle buffer {args.shuffle_buffer})")
    for column in ("pair", "memory", "kafka", "kafka / memory"):
        table.add_column(column, justify="right")
    for pair, (m, k, r) in enumerate(zip(rates["memory"], rates["kafka"], ratios, strict=True), 1):
        table.add_row(str(pair), f"{m:.0f}", f"{k:.0f}", f"{r:.3f}")
    table.add_row("median", f"{figures['memory_samples_per_s_median']:.0f}",
                  f"{figures['kafka_samples_per_s_median']:.0f}", f"{figures['kafka_over_memory_throughput']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"sink (spool + publish) rate: {figures['sink_samples_per_s']:.0f} samples/s")
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
