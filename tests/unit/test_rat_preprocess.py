"""FFT features: layout, normalisation, and refusing windows that do not fit the model."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.usecases.rat.preprocess import check_fits, input_shape, spectra


def test_rows_are_the_real_and_imaginary_parts_of_the_centred_spectrum():
    rng = np.random.default_rng(0)
    iq = (rng.standard_normal((3, 64)) + 1j * rng.standard_normal((3, 64))).astype(np.complex64)
    x = spectra(iq)
    assert x.shape == (3, 2, 64, 1) and x.dtype == np.float32
    expected = np.fft.fftshift(np.fft.fft(iq.astype(np.complex128), axis=1), axes=1)
    ratio = (x[:, 0, :, 0] + 1j * x[:, 1, :, 0]) / expected
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 64)), rtol=1e-4)  # one real scale per window


def test_each_window_is_scaled_to_unit_rms_whatever_its_power():
    tone = np.exp(2j * np.pi * 0.1 * np.arange(128))
    x = spectra(np.stack((tone, 1000 * tone, 1e-3 * tone)))
    rms = np.sqrt(np.mean(x[:, 0, :, 0] ** 2 + x[:, 1, :, 0] ** 2, axis=1))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-5)
    np.testing.assert_allclose(x[0], x[1], atol=1e-6)
    assert np.all(spectra(np.zeros((1, 32), complex)) == 0)  # silence stays silence, no NaN


@pytest.mark.parametrize("bad", [np.ones((2, 16)), np.ones(16, complex), np.full((1, 16), np.nan + 0j)])
def test_non_complex_or_misshaped_or_nan_windows_are_refused(bad):
    with pytest.raises(ValueError, match="complex|NaN"):
        spectra(bad)


def test_features_must_fit_the_model_input():
    x = np.zeros((4, 2, 900, 1), np.float32)
    check_fits(x, (None,) + input_shape(900))
    with pytest.raises(ValueError, match="windows of 900 samples.*windows of 880 samples"):
        check_fits(x, (None, 2, 880, 1))
