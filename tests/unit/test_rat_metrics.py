"""Accuracy per SNR bucket, as the baseline and the federated experiments report it."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.usecases.rat.metrics import accuracy_by_snr, accuracy_where


def test_samples_fall_in_the_nearest_bucket():
    labels = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 1, 0, 3, 0, 5])
    snr = np.array([-10.0, -9.0, 0.4, 1.0, 29.0, 31.0])
    assert accuracy_by_snr(labels, predicted, snr, edges=(-10, 0, 30)) == {-10.0: 1.0, 0.0: 0.5, 30.0: 0.5}


def test_accuracy_where_selects_and_is_nan_when_nothing_is_selected():
    labels, predicted = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])
    assert accuracy_where(labels, predicted, np.array([True, True, False, False])) == 0.5
    assert np.isnan(accuracy_where(labels, predicted, np.zeros(4, bool)))


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        accuracy_by_snr(np.zeros(3), np.zeros(3), np.zeros(2))
