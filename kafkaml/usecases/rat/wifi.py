"""IEEE 802.11 OFDM packets: Wi-Fi 802.11a/g at 20 MHz and ITS-G5 (802.11p) at 10 MHz.

Both use the same 64-point OFDM with 52 used subcarriers (48 data, pilots at ±7 and ±21) and
the same packet: short training field (ten repetitions of a 16-sample pattern), long training
field, a BPSK SIGNAL symbol, then data symbols of 80 samples (64 + 16 CP). ITS-G5 runs that
clock at half speed (10 Msps: 8 µs symbols, 156.25 kHz spacing, ~8.3 MHz occupied), with
longer idle gaps between its sparser packets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kafkaml.usecases.rat.ofdm import modulate, qam, to_capture_rate

NFFT = 64
CP = 16
PILOTS = np.array([-21, -7, 7, 21])
PILOT_VALUES = np.array([1.0, 1.0, 1.0, -1.0])
DATA = np.array([k for k in range(-26, 27) if k != 0 and k not in PILOTS])
ORDERS = (2, 4, 16, 64)
# Short and long training sequences on subcarriers -26..26 (IEEE 802.11-2020, 17.3.3).
STF = np.sqrt(13 / 6) * np.array(
    [0, 0, 1 + 1j, 0, 0, 0, -1 - 1j, 0, 0, 0, 1 + 1j, 0, 0, 0, -1 - 1j, 0, 0, 0, -1 - 1j, 0, 0, 0, 1 + 1j,
     0, 0, 0, 0, 0, 0, 0, -1 - 1j, 0, 0, 0, -1 - 1j, 0, 0, 0, 1 + 1j, 0, 0, 0, 1 + 1j, 0, 0, 0, 1 + 1j,
     0, 0, 0, 1 + 1j, 0, 0])
LTF = np.array(
    [1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 0,
     1, -1, -1, 1, 1, -1, 1, -1, 1, -1, -1, -1, -1, -1, 1, 1, -1, -1, 1, -1, 1, -1, 1, 1, 1, 1], complex)
# Packet sizes in OFDM symbols and idle gaps in µs: ITS-G5 sends short CAM-like messages sparsely.


@dataclass(frozen=True)
class Variant:
    rate: float
    symbols: tuple[int, int]  # data symbols per packet (min, max)
    gap_us: tuple[float, float]  # idle time between packets (min, max)


WIFI = Variant(20e6, (6, 120), (16.0, 150.0))
ITSG5 = Variant(10e6, (12, 60), (60.0, 400.0))


def _spectrum(values: np.ndarray) -> np.ndarray:
    """Subcarriers -26..26 placed on 64 FFT bins."""
    grid = np.zeros(values.shape[:-1] + (NFFT,), np.complex128)
    grid[..., np.arange(-26, 27) % NFFT] = values
    return grid


def _preamble() -> np.ndarray:
    short = np.fft.ifft(_spectrum(STF)) * np.sqrt(NFFT)
    long = np.fft.ifft(_spectrum(LTF)) * np.sqrt(NFFT)
    return np.concatenate((np.tile(short, 3)[:160], long[-32:], long, long))


PREAMBLE = _preamble()  # 320 samples: STF (160, period 16) + LTF (160)


def packet(rng: np.random.Generator, symbols: int, order: int) -> np.ndarray:
    """One PPDU at the native rate: preamble, BPSK SIGNAL symbol, ``symbols`` data symbols."""
    values = np.zeros((symbols + 1, 53), np.complex128)
    values[0, DATA + 26] = qam(rng, 2, DATA.size)
    values[1:, DATA + 26] = qam(rng, order, (symbols, DATA.size))
    polarity = 2.0 * rng.integers(0, 2, symbols + 1) - 1.0
    values[:, PILOTS + 26] = polarity[:, None] * PILOT_VALUES
    return np.concatenate((PREAMBLE, modulate(_spectrum(values), CP)))


def stream(rng: np.random.Generator, length: int, variant: Variant) -> tuple[np.ndarray, np.ndarray]:
    """``length`` samples at 20 Msps of packets separated by idle gaps, and the activity mask."""
    native = int(np.ceil(length * variant.rate / 20e6))
    order = ORDERS[rng.integers(0, len(ORDERS))]
    pieces, active = [], []
    filled = 0
    # Start anywhere inside a gap or a packet: the first gap is drawn, the first packet may be cut.
    while filled < native + (NFFT + CP) * variant.symbols[1]:
        gap = int(rng.uniform(*variant.gap_us) * variant.rate / 1e6)
        burst = packet(rng, int(rng.integers(variant.symbols[0], variant.symbols[1] + 1)), order)
        pieces += [np.zeros(gap, np.complex128), burst]
        active += [np.zeros(gap, bool), np.ones(burst.size, bool)]
        filled += gap + burst.size
    signal, mask = np.concatenate(pieces), np.concatenate(active)
    start = int(rng.integers(0, signal.size - native))
    signal, mask = to_capture_rate(signal[start:start + native], mask[start:start + native], variant.rate)
    return signal[:length], mask[:length]
