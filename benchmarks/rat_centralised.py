"""Centralised (non-federated) baseline of the wireless technology recognition use case.

Trains the paper's CNN (kafkaml.usecases.rat.model) on generated IQ windows and evaluates it on
a validation set of separate streams with SNRs on a 5 dB grid from -10 to 30 dB. Reports
accuracy per SNR bucket and the issue's targets: ``centralised_accuracy_snr_ge_10`` (> 0.95)
and ``centralised_accuracy_snr_le_minus5`` (visibly lower, or the generator would be trivial),
plus a nearest-centroid classifier on the smoothed power spectrum as a sanity figure.

    .venv/bin/python benchmarks/rat_centralised.py --json out/rat_centralised.json [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _report import write_figures
from rich.console import Console
from rich.table import Table

from kafkaml.usecases.rat.generator import CLASSES
from kafkaml.usecases.rat.metrics import accuracy_by_snr, accuracy_where
from kafkaml.usecases.rat.preprocess import RatDataset, generate, validation_set

SNR_GRID = tuple(range(-10, 31, 5))
SCALES = {  # train windows, validation windows, epochs
    "default": (48000, 5400, 7),
    "quick": (12000, 2700, 4),
}


def smoothed_spectrum(data: RatDataset, width: int = 9) -> np.ndarray:
    """Log power spectrum per window, smoothed over ``width`` bins (phase-free features)."""
    power = data.x[:, 0, :, 0] ** 2 + data.x[:, 1, :, 0] ** 2
    smooth = np.apply_along_axis(lambda row: np.convolve(row, np.ones(width) / width, "same"), 1, power)
    return np.log10(smooth + 1e-6)


def nearest_centroid(train: RatDataset, test: RatDataset) -> np.ndarray:
    features, targets = smoothed_spectrum(train), smoothed_spectrum(test)
    centroids = np.stack([features[train.y == c].mean(axis=0) for c in range(len(CLASSES))])
    distance = ((targets[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return np.argmin(distance, axis=1)


def train_cnn(train: RatDataset, test: RatDataset, epochs: int, batch: int, seed: int,
              after_epoch: Callable[[Any], None] | None = None) -> tuple[np.ndarray, float]:
    """The paper's CNN trained on ``train``: its predictions on ``test`` and the training seconds.
    ``after_epoch(model)`` is called after every epoch (a held-out curve; it must not train)."""
    import keras
    import tensorflow as tf

    from kafkaml.usecases.rat.model import build

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process (the held-out scorer's dataset):
        pass  # its defaults stay, two op threads on this machine's two cores
    keras.utils.set_random_seed(seed)
    model, compile_args, _ = build()
    model.compile(**compile_args)
    started = time.perf_counter()
    callbacks = [keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_epoch(model))] if after_epoch else []
    model.fit(train.x, train.y, batch_size=batch, epochs=epochs, verbose=2, shuffle=True, callbacks=callbacks)
    seconds = time.perf_counter() - started
    predicted = np.argmax(model.predict(test.x, batch_size=1024, verbose=0), axis=1)
    return predicted, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the flat JSON results here")
    parser.add_argument("--quick", action="store_true", help="small scale (about 2 minutes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's epochs")
    parser.add_argument("--train", type=int, default=None, help="override the scale's training windows")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scale = "quick" if args.quick else "default"
    n_train, n_test, epochs = SCALES[scale]
    n_train, epochs = args.train or n_train, args.epochs or epochs

    started = time.perf_counter()
    train = generate(n_train, args.seed)
    test = validation_set(n_test, args.seed, snr_grid=SNR_GRID)
    generation_s = time.perf_counter() - started

    centroid = nearest_centroid(train, test)
    predicted, training_s = train_cnn(train, test, epochs, args.batch, args.seed)
    per_snr = accuracy_by_snr(test.y, predicted, test.snr_db, SNR_GRID)
    per_snr_centroid = accuracy_by_snr(test.y, centroid, test.snr_db, SNR_GRID)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    high = test.snr_db >= 10
    np.add.at(confusion, (test.y[high], predicted[high]), 1)

    figures: dict[str, float | int | str] = {
        "scale": scale,
        "train_windows": len(train),
        "validation_windows": len(test),
        "epochs": epochs,
        "batch": args.batch,
        "generation_ms_per_window": round(1e3 * generation_s / (len(train) + len(test)), 3),
        "training_s": round(training_s, 1),
        "centralised_accuracy": round(float(np.mean(predicted == test.y)), 4),
        "centralised_accuracy_snr_ge_10": round(accuracy_where(test.y, predicted, test.snr_db >= 10), 4),
        "centralised_accuracy_snr_le_minus5": round(accuracy_where(test.y, predicted, test.snr_db <= -5), 4),
        "nearest_centroid_accuracy": round(float(np.mean(centroid == test.y)), 4),
        "nearest_centroid_accuracy_snr_ge_10": round(accuracy_where(test.y, centroid, high), 4),
    }
    for snr, accuracy in per_snr.items():
        figures[f"centralised_accuracy_snr_{int(snr)}".replace("-", "minus")] = round(accuracy, 4)

    table = Table(title=f"RAT centralised baseline ({scale}: {len(train)} windows, {epochs} epochs)")
    for column in ("SNR dB", "CNN accuracy", "nearest centroid"):
        table.add_column(column, justify="right")
    for snr in per_snr:
        table.add_row(f"{snr:g}", f"{per_snr[snr]:.3f}", f"{per_snr_centroid[snr]:.3f}")
    console = Console()
    console.print(table)
    console.print("confusion at SNR ≥ 10 dB (rows true, columns predicted: " + ", ".join(CLASSES) + ")")
    console.print(confusion)
    for key, value in figures.items():
        if not key.startswith("centralised_accuracy_snr_") or key.endswith(("ge_10", "le_minus5")):
            console.print(f"{key}: {value}")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
