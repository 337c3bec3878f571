"""The RAT IQ generator: determinism, shapes, balance, SNR, busy windows and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.usecases.rat import generator
from kafkaml.usecases.rat.generator import CLASSES, add_noise, generate_iq, split_by_stream, stream_windows
from kafkaml.usecases.rat.preprocess import generate, validation_set


def test_same_seed_same_windows_other_seed_other_windows():
    first, again, other = generate_iq(48, 3), generate_iq(48, 3), generate_iq(48, 4)
    np.testing.assert_array_equal(first.iq, again.iq)
    np.testing.assert_array_equal(first.snr_db, again.snr_db)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.allclose(first.iq, other.iq)


def test_a_subset_of_streams_is_exactly_those_streams_of_the_whole_dataset():
    whole = generate_iq(64, 5, windows_per_stream=4)
    part = generate_iq(64, 5, windows_per_stream=4, streams=np.array([2, 7, 11]))
    np.testing.assert_array_equal(part.iq, whole.iq[np.isin(whole.stream, [2, 7, 11])])


def test_shapes_dtypes_and_balanced_labels():
    data = generate(120, 1, window=256)
    assert data.x.shape == (120, 2, 256, 1) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and data.snr_db.dtype == np.float32 and data.stream.shape == (120,)
    counts = np.bincount(data.y, minlength=len(CLASSES))
    assert counts.min() >= 16 and counts.max() <= 24
    iq = generate_iq(30, 1, classes=["wifi", "NOISE"])
    assert set(iq.labels.tolist()) == {CLASSES.index("wifi"), CLASSES.index("noise")}
    assert iq.iq.dtype == np.complex64


def test_snr_uniform_in_range_or_from_the_grid():
    drawn = generate_iq(96, 2, snr_range=(-3.0, 7.0)).snr_db
    assert drawn.min() >= -3 and drawn.max() <= 7 and np.unique(drawn).size > 50
    grid = generate_iq(96, 2, snr_grid=[-10, 0, 20]).snr_db
    assert set(grid.tolist()) == {-10.0, 0.0, 20.0}
    numpy_grid = generate_iq(96, 2, snr_grid=np.arange(-10, 21, 10)).snr_db
    assert set(numpy_grid.tolist()) == {-10.0, 0.0, 10.0, 20.0}


def test_added_noise_gives_the_requested_measured_snr():
    rng = np.random.default_rng(0)
    clean = stream_windows(CLASSES.index("itsg5"), 6, rng, window=880, min_active=0.5)
    wanted = np.array([-10.0, -5.0, 0.0, 10.0, 20.0, 30.0])
    noisy = add_noise(clean, wanted, rng)
    measured = 10 * np.log10(np.mean(np.abs(clean) ** 2, 1) / np.mean(np.abs(noisy - clean) ** 2, 1))
    np.testing.assert_allclose(measured, wanted, atol=0.6)


def test_snr_of_a_generated_window_matches_the_noise_floor_outside_the_signal_band():
    """End to end: LTE occupies ±4.5 MHz, so bins beyond ±6 MHz hold only the white noise."""
    data = generate_iq(16, 9, classes=["lte"], snr_grid=[5.0])
    spectrum = np.abs(np.fft.fftshift(np.fft.fft(data.iq.astype(np.complex128), axis=1), axes=1)) ** 2 / 880
    freq = np.fft.fftshift(np.fft.fftfreq(880, 1 / 20e6))
    noise = spectrum[:, np.abs(freq) > 6e6].mean(axis=1)  # per-sample noise power (white over 20 MHz)
    total = spectrum.mean(axis=1)
    measured = 10 * np.log10((total - noise) / noise)
    assert abs(np.median(measured) - 5.0) < 1.0


@pytest.mark.parametrize("name", ["wifi", "itsg5", "nr", "cv2x"])
def test_windows_of_bursty_classes_are_at_least_half_busy(name):
    rng = np.random.default_rng(11)
    windows = np.concatenate([stream_windows(CLASSES.index(name), 8, rng, window=880, min_active=0.5)
                              for _ in range(6)])
    power = np.abs(windows) ** 2
    busy = np.mean(power > 1e-4 * power.mean(axis=1, keepdims=True), axis=1)
    assert busy.min() >= 0.45


def test_window_starts_respect_the_busy_fraction_and_prefer_no_overlap():
    active = np.zeros(10000, bool)
    active[1000:3000] = active[6000:9000] = True
    starts = generator.window_starts(active, 500, 4, 0.5, np.random.default_rng(1))
    assert starts.size == 4
    assert all(active[s:s + 500].mean() >= 0.5 for s in starts)
    assert np.all(np.diff(starts) >= 500)
    assert generator.window_starts(np.zeros(2000, bool), 500, 4, 0.5, np.random.default_rng(1)).size == 0


def test_split_by_stream_keeps_each_stream_on_one_side():
    data = generate_iq(80, 1, windows_per_stream=4)
    train, test = split_by_stream(data.stream, 0.25, seed=3)
    assert np.intersect1d(data.stream[train], data.stream[test]).size == 0
    assert train.size + test.size == 80 and 10 <= test.size <= 30


def test_validation_set_shares_no_stream_with_training_data_of_the_same_seed():
    train, valid = generate(24, 1), validation_set(24, 1, snr_grid=[0])
    assert not np.isclose(train.x[:, :, :, 0], valid.x[:, None, :, :, 0]).all(axis=(2, 3)).any()
    assert set(valid.snr_db.tolist()) == {0.0}


@pytest.mark.parametrize("options, message", [
    ({"classes": ["lte", "gsm"]}, "unknown class name"),
    ({"classes": []}, "unknown class name"),
    ({"classes": ["lte", "LTE"]}, "repeated"),
    ({"snr_range": (20.0, 10.0)}, "above its maximum"),
    ({"snr_range": (-80.0, 10.0)}, "outside the sensible range"),
    ({"snr_range": (float("nan"), 10.0)}, "finite"),
    ({"snr_range": (0.0,)}, "(min, max)"),
    ({"snr_grid": []}, "grid is empty"),
    ({"snr_grid": [0, 100]}, "outside the sensible range"),
    ({"window": 8}, "window"),
    ({"min_active": 0.0}, "min_active"),
    ({"streams": np.array([99])}, "stream indices"),
])
def test_bad_options_are_refused_with_a_clear_error(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate_iq(16, 1, **options)


@pytest.mark.parametrize("samples, seed", [(0, 1), (-5, 1), (10, -1), (2.5, 1), (True, 1)])
def test_bad_sizes_and_seeds_are_refused(samples, seed):
    with pytest.raises(ValueError, match="samples|seed"):
        generate_iq(samples, seed)
