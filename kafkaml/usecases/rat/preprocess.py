"""The paper's input representation: the spectrum of each window as a 2×M real matrix.

Each window of M complex samples becomes its M-point FFT (shifted so frequency runs from
-10 to +10 MHz left to right, which keeps neighbouring bins neighbouring for the convolutions),
scaled to unit RMS per window (so the model sees spectral shape, not received power), with the
real parts in row 0 and the imaginary parts in row 1: float32 arrays shaped (n, 2, M, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kafkaml.usecases.rat.generator import DEFAULT_WINDOW, VALIDATION, IQSet, generate_iq


def input_shape(window: int = DEFAULT_WINDOW) -> tuple[int, int, int]:
    return (2, window, 1)


def spectra(iq: np.ndarray) -> np.ndarray:
    """(n, window) complex windows → (n, 2, window, 1) float32 normalised FFT features."""
    iq = np.asarray(iq)
    if iq.ndim != 2 or not np.iscomplexobj(iq):
        raise ValueError(f"expected complex windows shaped (n, window), got {iq.dtype} {iq.shape}")
    if not np.all(np.isfinite(iq)):
        raise ValueError("windows contain NaN or infinite samples")
    spectrum = np.fft.fftshift(np.fft.fft(iq.astype(np.complex128), axis=1), axes=1)
    rms = np.sqrt(np.mean(np.abs(spectrum) ** 2, axis=1, keepdims=True))
    spectrum = spectrum / np.where(rms > 0, rms, 1.0)
    return np.stack((spectrum.real, spectrum.imag), axis=1)[..., None].astype(np.float32)


def check_fits(x: np.ndarray, model_input: Sequence[int | None]) -> None:
    """Refuse features a model cannot take, naming the window length each side implies."""
    expected = tuple(model_input)[-3:]
    if tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"features shaped {tuple(x.shape[1:])} (windows of {x.shape[2] if x.ndim > 2 else '?'} samples) "
            f"do not fit the model input {expected} (windows of {expected[1]} samples); "
            f"generate or load with window={expected[1]}")


@dataclass(frozen=True)
class RatDataset:
    """Model-ready samples: features, integer labels, per-sample SNR and source stream."""

    x: np.ndarray  # (n, 2, window, 1) float32
    y: np.ndarray  # (n,) int64, index into generator.CLASSES
    snr_db: np.ndarray  # (n,) float32 (NaN where unknown, e.g. real captures)
    stream: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return int(self.y.size)

    def subset(self, index: np.ndarray) -> RatDataset:
        return RatDataset(self.x[index], self.y[index], self.snr_db[index], self.stream[index])


def featurise(windows: IQSet) -> RatDataset:
    return RatDataset(spectra(windows.iq), windows.labels, windows.snr_db, windows.stream)


def generate(samples: int, seed: int, **options) -> RatDataset:
    """:func:`generator.generate_iq` followed by :func:`spectra`; same options."""
    return featurise(generate_iq(samples, seed, **options))


def validation_set(samples: int, seed: int, *, snr_grid: Sequence[float] | None = None, **options) -> RatDataset:
    """A platform validation set: its stream seeds carry the validation purpose, so it shares no
    stream with a training set of the same seed; ``snr_grid`` gives even coverage for per-SNR
    curves. SNR is kept per sample.
    """
    return generate(samples, seed, snr_grid=snr_grid, purpose=VALIDATION, **options)
