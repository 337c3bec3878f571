"""LTE downlink, 10 MHz: the continuous class with always-on cell reference signals.

15.36 Msps, 1024-point FFT, 15 kHz spacing, 600 used subcarriers around a null DC, normal CP.
Each subframe (14 symbols) carries a control region over the whole band in its first 1-3
symbols and data in a random set of the 50 resource blocks; the cell reference signals sit on
every 3rd subcarrier of symbols 0 and 4 of each slot (two antenna ports, the usual 2×2 eNodeB,
boosted by 3 dB) whatever the load, which is what makes an idle LTE carrier still look like LTE.
Subframes 0 and 5 also carry the synchronisation signals on the central 62 subcarriers.
"""

from __future__ import annotations

import numpy as np

from kafkaml.usecases.rat.ofdm import lte_cp, modulate, qam, qpsk, to_capture_rate, used_bins

RATE = 15.36e6
NFFT = 1024
BINS = used_bins(-300, 300, NFFT, skip_dc=True)  # 600 subcarriers, lowest first
RESOURCE_BLOCKS = 50
ORDERS = (4, 16, 64)
SYMBOLS_PER_SUBFRAME = 14
CRS_GAIN = 10 ** (3 / 20)
SYNC = np.concatenate((np.arange(300 - 31, 300), np.arange(300, 300 + 31)))  # ±31 around DC, in BINS order


def stream(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``length`` samples at 20 Msps and their activity mask (always active)."""
    native = int(np.ceil(length * 96 / 125)) + 8
    nsym = native // 1096 + 2
    first = int(rng.integers(0, SYMBOLS_PER_SUBFRAME))
    first_subframe = int(rng.integers(0, 10))
    index = first + np.arange(nsym)  # symbol number counted from a subframe start
    subframe = index // SYMBOLS_PER_SUBFRAME
    in_subframe = index % SYMBOLS_PER_SUBFRAME
    order = ORDERS[rng.integers(0, len(ORDERS))]
    load = rng.uniform(0.5, 1.0)  # a cell serving traffic: at least half its resource blocks

    # Data: each subframe schedules its own random set of resource blocks.
    blocks = rng.random((subframe.max() + 1, RESOURCE_BLOCKS)) < load
    used = np.repeat(blocks, 12, axis=1)[subframe - subframe.min()]
    values = qam(rng, order, (nsym, BINS.size)) * used
    control = in_subframe < rng.integers(1, 4)
    values[control] = qpsk(rng, (int(control.sum()), BINS.size))
    # Cell reference signals of ports 0 and 1: subcarriers v and v+3 (mod 6) on symbols 0 and 4.
    shift = int(rng.integers(0, 3))
    rows = np.flatnonzero(np.isin(in_subframe % 7, (0, 4)))
    values[np.ix_(rows, np.arange(shift, BINS.size, 3))] = CRS_GAIN * qpsk(rng, (rows.size, BINS.size // 3))
    # PSS (symbol 6) and SSS (symbol 5) of slot 0 in subframes 0 and 5: 62 subcarriers around DC.
    sync = np.flatnonzero(np.isin(in_subframe, (5, 6)) & np.isin((first_subframe + subframe) % 10, (0, 5)))
    values[np.ix_(sync, SYNC)] = np.exp(2j * np.pi * rng.random((sync.size, SYNC.size)))

    grid = np.zeros((nsym, NFFT), np.complex128)
    grid[:, BINS] = values
    signal = modulate(grid, lte_cp(in_subframe))
    start = int(rng.integers(0, signal.size - native))
    signal = signal[start:start + native]
    signal, active = to_capture_rate(signal, np.ones(native, bool), RATE)
    return signal[:length], active[:length]
