"""Physical-layer building blocks shared by the technology modules: constellations, OFDM, rates.

Every technology here is OFDM (or DFT-spread OFDM) at a native sample rate; these helpers build
whole resource grids at once (one inverse FFT for all symbols) so a stream costs about a
millisecond, and bring it to the capture rate of 20 Msps with a polyphase resampler.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

CAPTURE_RATE = 20e6
# Native rate -> (up, down) factors to 20 Msps: 15.36 Msps (LTE/NR/sidelink) is 125/96,
# 10 Msps (802.11p) is 2/1, 20 Msps (802.11a/g) needs nothing.
RESAMPLE = {15.36e6: (125, 96), 10e6: (2, 1), 20e6: (1, 1)}


def qam(rng: np.random.Generator, order: int, shape: tuple[int, ...] | int) -> np.ndarray:
    """Random square-QAM (or BPSK for ``order`` 2) symbols with unit average power."""
    if order == 2:
        return (2.0 * rng.integers(0, 2, shape) - 1.0).astype(np.complex128)
    side = int(round(np.sqrt(order)))
    if side * side != order or side < 2:
        raise ValueError(f"unsupported modulation order {order}")
    levels = 2.0 * np.arange(side) - side + 1.0
    scale = np.sqrt(2.0 * (side * side - 1) / 3.0)
    return (levels[rng.integers(0, side, shape)] + 1j * levels[rng.integers(0, side, shape)]) / scale


def qpsk(rng: np.random.Generator, shape: tuple[int, ...] | int) -> np.ndarray:
    return qam(rng, 4, shape)


def modulate(grid: np.ndarray, cp: np.ndarray | int, *, half_shift: bool = False) -> np.ndarray:
    """Time signal of a resource grid (symbols × FFT bins, FFT order), each symbol with its CP.

    ``half_shift`` moves every subcarrier up by half a spacing, as the LTE uplink and sidelink
    (SC-FDMA) do; the phase ramp runs through the cyclic prefix so the shift is exact.
    Unit-power subcarriers give unit-power time samples when every bin is used.
    """
    nsym, nfft = grid.shape
    body = np.fft.ifft(grid, axis=1) * np.sqrt(nfft)
    cps = np.broadcast_to(np.asarray(cp), (nsym,))
    if half_shift:
        ramp = np.exp(1j * np.pi * np.arange(-int(cps.max()), nfft) / nfft)
    pieces = []
    for symbol, length in zip(body, cps, strict=True):
        piece = np.concatenate((symbol[nfft - length:], symbol))
        if half_shift:
            piece = piece * ramp[int(cps.max()) - length:]
        pieces.append(piece)
    return np.concatenate(pieces)


def symbol_mask(grid: np.ndarray, cp: np.ndarray | int) -> np.ndarray:
    """Per-sample activity (True where the symbol carries energy) matching :func:`modulate`."""
    nsym, nfft = grid.shape
    cps = np.broadcast_to(np.asarray(cp), (nsym,))
    return np.repeat(np.any(grid != 0, axis=1), cps + nfft)


def to_capture_rate(signal: np.ndarray, active: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample a native-rate signal and its activity mask to 20 Msps."""
    up, down = RESAMPLE[rate]
    if up == down:
        return signal, active
    out = resample_poly(signal, up, down)
    index = np.minimum((np.arange(out.size) * down) // up, active.size - 1)
    return out, active[index]


def used_bins(low: int, high: int, nfft: int, *, skip_dc: bool) -> np.ndarray:
    """FFT bins of subcarriers ``low..high`` (signed, inclusive), optionally without DC."""
    k = np.arange(low, high + 1)
    if skip_dc:
        k = k[k != 0]
    return k % nfft


def lte_cp(symbols: np.ndarray) -> np.ndarray:
    """Normal CP at 15.36 Msps with a 1024 FFT: 80 samples on the first symbol of each slot, else 72."""
    return np.where(symbols % 7 == 0, 80, 72)
