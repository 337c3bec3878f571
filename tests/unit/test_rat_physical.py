"""Each generated class shows the physical signature of its standard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks, resample_poly

from kafkaml.usecases.rat import lte, nr, wifi
from kafkaml.usecases.rat.generator import CLASSES, generate_iq, stream_windows
from kafkaml.usecases.rat.ofdm import to_capture_rate

FREQ = np.fft.fftshift(np.fft.fftfreq(880, 1 / 20e6))


def mean_spectrum(name: str, samples: int = 96) -> np.ndarray:
    data = generate_iq(samples, 21, classes=[name], snr_grid=[40.0], windows_per_stream=2)
    return np.mean(np.abs(np.fft.fftshift(np.fft.fft(data.iq, axis=1), axes=1)) ** 2, axis=0)


def occupied_mhz(spectrum: np.ndarray, share: float = 0.99) -> tuple[float, float]:
    cumulative = np.cumsum(spectrum) / spectrum.sum()
    low = FREQ[np.searchsorted(cumulative, (1 - share) / 2)]
    high = FREQ[np.searchsorted(cumulative, 1 - (1 - share) / 2)]
    return low / 1e6, high / 1e6


@pytest.mark.parametrize("name, low, high", [
    ("lte", 8.6, 9.3),      # 600 × 15 kHz = 9.0 MHz
    ("nr", 8.3, 9.5),       # 24 PRB × 360 kHz = 8.64 MHz, or 52 × 180 kHz = 9.36 MHz
    ("wifi", 16.0, 17.0),   # 52 × 312.5 kHz = 16.6 MHz
    ("itsg5", 7.9, 8.6),    # 52 × 156.25 kHz = 8.3 MHz
    ("cv2x", 6.0, 9.1),     # sub-channels of the 9 MHz grid, rarely all of it
    ("noise", 19.5, 20.0),  # white over the capture
])
def test_occupied_bandwidth_matches_the_standard(name, low, high):
    lo, hi = occupied_mhz(mean_spectrum(name))
    assert low <= hi - lo <= high
    assert abs(hi + lo) < 0.5, "no class may sit off centre"


def test_cv2x_occupies_contiguous_sub_channels_narrower_than_the_carrier():
    data = generate_iq(64, 4, classes=["cv2x"], snr_grid=[40.0])
    spectra = np.abs(np.fft.fftshift(np.fft.fft(data.iq, axis=1), axes=1)) ** 2
    widths = [np.subtract(*occupied_mhz(s, 0.95)[::-1]) for s in spectra]
    assert np.median(widths) < 6.0  # typical allocation: a few 5-PRB (0.9 MHz) sub-channels


def test_every_class_is_centred_within_the_carrier_offset():
    for name in CLASSES[:-1]:
        spectrum = mean_spectrum(name, 96)
        centroid = np.sum(FREQ * spectrum) / spectrum.sum()
        assert abs(centroid) < 400e3, name


def test_wifi_short_training_field_repeats_every_16_samples_and_the_long_one_does_not():
    stf, ltf = wifi.PREAMBLE[:160], wifi.PREAMBLE[192:320]
    assert np.allclose(stf[16:], stf[:-16])
    assert not np.allclose(stf[8:], stf[:-8], atol=0.1)
    assert not np.allclose(ltf[16:], ltf[:-16], atol=0.1)
    assert np.allclose(ltf[64:], ltf[:-64])


def test_its_g5_short_training_field_repeats_every_32_samples_at_20_msps():
    burst = wifi.packet(np.random.default_rng(0), 4, 4)
    captured, _ = to_capture_rate(burst, np.ones(burst.size, bool), wifi.ITSG5.rate)
    stf = captured[20:300]  # away from the resampling filter's edge
    similarity = np.abs(np.vdot(stf[:-32], stf[32:])) / np.vdot(stf, stf).real
    assert similarity > 0.85


def test_wifi_packets_have_pilots_at_plus_minus_7_and_21():
    burst = wifi.packet(np.random.default_rng(1), 10, 16)
    symbols = burst[320:].reshape(-1, 80)[:, 16:]
    power = np.mean(np.abs(np.fft.fft(symbols, axis=1)) ** 2, axis=0)
    assert np.allclose(power[[7, 21, -7 % 64, -21 % 64]], power[[7, 21, -7 % 64, -21 % 64]][0])
    assert power[0] < 1e-9 and power[27:38].max() < 1e-9  # DC and guard bands empty


def test_lte_cyclic_prefix_repeats_the_symbol_tail_1024_samples_later():
    signal, _ = lte.stream(np.random.default_rng(5), 20000)
    native = resample_poly(signal, 96, 125)  # back to 15.36 Msps
    product = native[:-1024] * np.conj(native[1024:])
    energy = np.abs(native[:-1024]) ** 2 + np.abs(native[1024:]) ** 2
    kernel = np.ones(72)
    correlation = 2 * np.abs(np.convolve(product, kernel, "valid")) / np.convolve(energy, kernel, "valid")
    assert correlation.max() > 0.9 and np.median(correlation) < 0.3
    peaks, _ = find_peaks(correlation, height=0.8, distance=500)
    assert peaks.size >= 10
    periods = np.diff(peaks)  # 72+1024, or 80+1024 at slot starts (the 80-sample CP peaks on a plateau)
    assert periods.min() >= 1094 and periods.max() <= 1106 and abs(periods.mean() - 7680 / 7) < 3


def test_lte_is_continuous_where_nr_has_tdd_gaps():
    """Power over each 1100-sample stretch: LTE (reference signals in every slot) never falls
    silent, NR's uplink symbols and guard periods are silent in a downlink capture."""
    def silent_share(source):
        shares = []
        for seed in range(12):
            signal, _ = source(np.random.default_rng(seed), 22000)
            power = np.abs(signal[: 22000 // 1100 * 1100].reshape(-1, 1100)) ** 2
            shares.append(np.mean(power.mean(axis=1) < 1e-3 * power.mean()))
        return np.mean(shares)
    assert silent_share(lte.stream) == 0
    assert silent_share(nr.stream) > 0.05


def test_cv2x_single_carrier_spreading_lowers_the_peak_to_average_ratio():
    def papr(name):
        rng = np.random.default_rng(2)
        windows = np.concatenate([stream_windows(CLASSES.index(name), 4, rng, window=880, min_active=0.5)
                                  for _ in range(20)])
        power = np.abs(windows) ** 2
        return np.median(10 * np.log10(power.max(axis=1) / power.mean(axis=1)))
    assert papr("cv2x") < papr("lte") - 1.0
