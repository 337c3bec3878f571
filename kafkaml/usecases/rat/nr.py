"""5G NR downlink, 10 MHz, TDD: OFDM whose empty resources are truly empty.

15.36 Msps; 30 kHz spacing (512 FFT, 24 PRBs, 8.64 MHz) or 15 kHz (1024 FFT, 52 PRBs,
9.36 MHz); no DC null. Unlike LTE there is no always-on reference: only scheduled PRBs carry
data, their DMRS (every other subcarrier of symbol 2, sometimes 11) and a CORESET in the first
symbol of a slot. Slots follow a TDD pattern (D, S, U) and the uplink part is silent in a
downlink capture, so a stream has gaps.
"""

from __future__ import annotations

import numpy as np

from kafkaml.usecases.rat.ofdm import modulate, qam, qpsk, symbol_mask, to_capture_rate

RATE = 15.36e6
ORDERS = (4, 16, 64, 256)
# spacing kHz -> (FFT size, PRBs, CP of the first symbol of each half subframe, other CP)
NUMEROLOGIES = {30: (512, 24, 44, 36), 15: (1024, 52, 80, 72)}
TDD_PATTERNS = ("DDDSU", "DDSUU", "DDDDDDDSUU", "DSUUU")
SLOT = 14
SHARE_30KHZ = 0.9  # TDD NR in FR1 is deployed with 30 kHz spacing; a few 15 kHz carriers remain


def _slot_kinds(rng: np.random.Generator, nslots: int) -> np.ndarray:
    pattern = TDD_PATTERNS[rng.integers(0, len(TDD_PATTERNS))]
    start = int(rng.integers(0, len(pattern)))
    return np.array([pattern[(start + i) % len(pattern)] for i in range(nslots)])


def stream(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``length`` samples at 20 Msps and the mask of samples inside downlink symbols with energy."""
    spacing = 30 if rng.random() < SHARE_30KHZ else 15
    nfft, prbs, cp_long, cp_short = NUMEROLOGIES[spacing]
    native = int(np.ceil(length * 96 / 125)) + 8
    nsym = native // (nfft + cp_short) + 2
    first = int(rng.integers(0, SLOT))
    index = first + np.arange(nsym)
    slot, symbol = index // SLOT, index % SLOT
    kinds = _slot_kinds(rng, int(slot.max()) + 1)[slot]
    downlink_symbols = int(rng.integers(6, 11))  # of a special slot, before the guard
    downlink = (kinds == "D") | ((kinds == "S") & (symbol < downlink_symbols))

    order = ORDERS[rng.integers(0, len(ORDERS))]
    load = rng.uniform(0.3, 1.0)
    scheduled = np.repeat(rng.random((int(slot.max()) + 1, prbs)) < load, 12, axis=1)[slot]
    scheduled &= downlink[:, None]
    values = qam(rng, order, (nsym, prbs * 12)) * scheduled
    dmrs = (symbol == 2) | ((symbol == 11) & (rng.random() < 0.5))
    comb = np.zeros(prbs * 12, bool)
    comb[::2] = True
    values[dmrs] = np.where(comb, qpsk(rng, (int(dmrs.sum()), prbs * 12)), 0) * scheduled[dmrs]
    coreset_prbs = int(rng.integers(prbs // 4, prbs + 1))
    coreset_start = int(rng.integers(0, prbs - coreset_prbs + 1)) * 12
    rows = np.flatnonzero((symbol == 0) & downlink)
    band = slice(coreset_start, coreset_start + coreset_prbs * 12)
    values[rows, band] = qpsk(rng, (rows.size, coreset_prbs * 12))

    grid = np.zeros((nsym, nfft), np.complex128)
    grid[:, np.arange(-prbs * 6, prbs * 6) % nfft] = values
    cp = np.where(index % (SLOT // 2 if spacing == 15 else SLOT) == 0, cp_long, cp_short)
    signal = modulate(grid, cp)
    active = symbol_mask(grid, cp)
    start = int(rng.integers(0, signal.size - native))
    signal, active = to_capture_rate(signal[start:start + native], active[start:start + native], RATE)
    return signal[:length], active[:length]
