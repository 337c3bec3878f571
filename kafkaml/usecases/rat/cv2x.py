"""C-V2X PC5 (LTE sidelink, Release 14), 10 MHz: SC-FDMA bursts in contiguous sub-channels.

15.36 Msps, 1024 FFT, 15 kHz spacing with the uplink's half-subcarrier shift, a 50-PRB grid
cut into sub-channels of 5, 10 or 25 PRBs. A vehicle transmits one subframe (14 symbols) in
a contiguous run of sub-channels: DFT-spread data (which makes the spectrum flat and the
envelope single-carrier-like), Zadoff-Chu DMRS on symbols 2, 5, 8 and 11, and the last
symbol left empty as a guard. Up to two vehicles share a subframe at different powers, within
the busy share that sidelink congestion control keeps the channel under (:data:`MAX_BUSY`); a
subframe may also be empty.
"""

from __future__ import annotations

import numpy as np

from kafkaml.usecases.rat.ofdm import lte_cp, modulate, qam, symbol_mask, to_capture_rate, used_bins

RATE = 15.36e6
NFFT = 1024
BINS = used_bins(-300, 299, NFFT, skip_dc=False)  # with the half shift: -299.5 .. 299.5 × 15 kHz
PRBS = 50
SUBCHANNEL_SIZES = (5, 10, 25)
ORDERS = (4, 16)
DMRS_SYMBOLS = (2, 5, 8, 11)
GUARD_SYMBOL = 13
SUBFRAME = 14
MAX_BUSY = 0.6  # congestion control keeps the channel busy ratio below about 60 %


def _largest_prime_below(n: int) -> int:
    for candidate in range(n - 1, 1, -1):
        if all(candidate % d for d in range(2, int(candidate ** 0.5) + 1)):
            return candidate
    return 2


def zadoff_chu(rng: np.random.Generator, length: int) -> np.ndarray:
    """A DMRS base sequence: a Zadoff-Chu sequence of the largest prime length, cyclically extended."""
    prime = _largest_prime_below(length)
    root = int(rng.integers(1, prime))
    n = np.arange(length) % prime
    return np.exp(-1j * np.pi * root * n * (n + 1) / prime)


def _transmission(rng: np.random.Generator, prbs: int, order: int) -> np.ndarray:
    """One vehicle's subframe on ``prbs`` PRBs: (14 symbols, 12·prbs subcarriers)."""
    width = 12 * prbs
    values = np.zeros((SUBFRAME, width), np.complex128)
    data = [s for s in range(SUBFRAME) if s not in DMRS_SYMBOLS and s != GUARD_SYMBOL]
    values[data] = np.fft.fft(qam(rng, order, (len(data), width)), axis=1) / np.sqrt(width)
    values[list(DMRS_SYMBOLS)] = zadoff_chu(rng, width)
    return values


def stream(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``length`` samples at 20 Msps of consecutive sidelink subframes and their activity mask."""
    native = int(np.ceil(length * 96 / 125)) + 8
    subframes = native // (SUBFRAME * 1097) + 2
    size = SUBCHANNEL_SIZES[rng.integers(0, len(SUBCHANNEL_SIZES))]
    count = PRBS // size
    order = ORDERS[rng.integers(0, len(ORDERS))]
    grid = np.zeros((subframes * SUBFRAME, NFFT), np.complex128)
    for sf in range(subframes):
        if rng.random() < 0.15:
            continue
        rows = slice(sf * SUBFRAME, (sf + 1) * SUBFRAME)
        free = np.ones(count, bool)
        for _ in range(1 + int(rng.random() < 0.3)):
            span = int(rng.integers(1, max(1, count // 2) + 1))
            starts = [s for s in range(count - span + 1) if free[s:s + span].all()]
            if not starts or (count - free.sum() + span) * size > MAX_BUSY * PRBS:
                break
            first = starts[rng.integers(0, len(starts))]
            free[first:first + span] = False
            gain = 10 ** (rng.uniform(-6, 0) / 20)
            bins = BINS[first * size * 12:(first + span) * size * 12]
            grid[rows, bins] = gain * _transmission(rng, span * size, order)
    cp = lte_cp(np.arange(grid.shape[0]) % SUBFRAME)
    signal = modulate(grid, cp, half_shift=True)
    active = symbol_mask(grid, cp)
    start = int(rng.integers(0, signal.size - native))
    signal, active = to_capture_rate(signal[start:start + native], active[start:start + native], RATE)
    return signal[:length], active[:length]
