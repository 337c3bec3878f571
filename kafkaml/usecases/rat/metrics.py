"""Accuracy broken down by SNR, the way technology-recognition results are reported.

Shared by the centralised baseline and the federated experiments so both bucket the same way.
"""

from __future__ import annotations

import numpy as np


def accuracy_by_snr(labels: np.ndarray, predicted: np.ndarray, snr_db: np.ndarray,
                    edges: tuple[float, ...] = (-10, -5, 0, 5, 10, 15, 20, 25, 30)) -> dict[float, float]:
    """Accuracy per SNR bucket: samples are rounded to the nearest edge (exact on a grid)."""
    labels, predicted, snr_db = np.asarray(labels), np.asarray(predicted), np.asarray(snr_db, float)
    if not labels.shape == predicted.shape == snr_db.shape:
        raise ValueError("labels, predictions and SNRs must have the same length")
    points = np.asarray(edges, float)
    nearest = points[np.argmin(np.abs(snr_db[:, None] - points[None, :]), axis=1)]
    return {float(p): float(np.mean(labels[nearest == p] == predicted[nearest == p]))
            for p in points if np.any(nearest == p)}


def accuracy_where(labels: np.ndarray, predicted: np.ndarray, mask: np.ndarray) -> float:
    """Accuracy over the samples selected by ``mask`` (NaN when none is)."""
    mask = np.asarray(mask, bool)
    return float(np.mean(np.asarray(labels)[mask] == np.asarray(predicted)[mask])) if mask.any() else float("nan")
