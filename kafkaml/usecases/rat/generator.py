"""Synthetic IQ captures of six radio technologies at 20 Msps, deterministic by seed.

A stand-in for the Girmay & Shahid dataset (IEEE DataPort, doi 10.21227/72qq-z464) built from
each technology's physical layer (see the per-technology modules). The work is organised in
*streams*: one generated stretch of signal of one class, passed through a random channel, from
which several windows are cut. Streams are the unit of randomness and of splitting:

* stream ``j`` of a dataset with seed ``s`` is generated from its own generator seeded
  ``(s, purpose, j)``, so any subset of streams (one client's share) can be generated alone and
  is identical to the same streams of the whole dataset;
* splits (train/test, clients) assign whole streams, so windows of one stream never end up on
  both sides and accuracy does not leak.

Every class gets the same impairments: a short random multipath channel, a carrier offset of a
few tens of kHz and a random phase; none gets its own centre offset, so a model must learn the
technology, not the tuning. Windows of bursty classes must be at least ``min_active`` busy so
their label does not lie. White noise is then added per window to a *measured* SNR: the
window's signal power over the noise power in the full 20 MHz.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kafkaml.usecases.rat import cv2x, lte, nr, wifi
from kafkaml.usecases.rat.names import CLASSES, DEFAULT_SNR_RANGE, DEFAULT_WINDOW

CLASS_TITLES = {"lte": "LTE", "nr": "5G NR", "wifi": "Wi-Fi", "itsg5": "ITS-G5", "cv2x": "C-V2X PC5",
                "noise": "Noise"}
SAMPLE_RATE = 20e6
SNR_LIMITS = (-40.0, 60.0)
WINDOWS_PER_STREAM = 8
MIN_ACTIVE = 0.5
MAX_CARRIER_OFFSET_HZ = 30e3
# Purposes keep the stream seeds of training data and of a validation set apart.
TRAINING, VALIDATION = 1, 2


def _noise_stream(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(length, np.complex128), np.ones(length, bool)


SOURCES: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]] = {
    "lte": lte.stream,
    "nr": nr.stream,
    "wifi": lambda rng, length: wifi.stream(rng, length, wifi.WIFI),
    "itsg5": lambda rng, length: wifi.stream(rng, length, wifi.ITSG5),
    "cv2x": cv2x.stream,
    "noise": _noise_stream,
}


@dataclass(frozen=True)
class IQSet:
    """Windows of complex baseband with what is known about each one."""

    iq: np.ndarray  # (n, window) complex64
    labels: np.ndarray  # (n,) int64, index into CLASSES
    snr_db: np.ndarray  # (n,) float32, the SNR the noise was added to (drawn also for noise windows)
    stream: np.ndarray  # (n,) int64, the stream each window was cut from

    def __len__(self) -> int:
        return int(self.labels.size)

    def subset(self, index: np.ndarray) -> IQSet:
        return IQSet(self.iq[index], self.labels[index], self.snr_db[index], self.stream[index])


def class_indices(classes: Sequence[str] | None) -> list[int]:
    """Label indices of ``classes`` (names from :data:`CLASSES`, case-insensitive); all if None."""
    if classes is None:
        return list(range(len(CLASSES)))
    names = [str(name).strip().lower() for name in classes]
    unknown = [name for name in names if name not in CLASSES]
    if unknown or not names:
        raise ValueError(f"unknown class name(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"expected some of {', '.join(CLASSES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"class names repeated: {', '.join(names)}")
    return [CLASSES.index(name) for name in names]


def check_snr(snr_range: tuple[float, float] | None, snr_grid: Sequence[float] | None) -> None:
    """Refuse SNR settings that cannot describe a capture: reversed, not finite, or absurd."""
    values = list(snr_grid) if snr_grid is not None else list(snr_range or ())
    if snr_grid is not None and not values:
        raise ValueError("the SNR grid is empty")
    if snr_grid is None and len(values) != 2:
        raise ValueError(f"an SNR range is (min, max) in dB, got {snr_range!r}")
    for value in values:
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"SNR values must be finite numbers of dB, got {value!r}")
        if not SNR_LIMITS[0] <= value <= SNR_LIMITS[1]:
            raise ValueError(f"SNR {value} dB is outside the sensible range {SNR_LIMITS[0]:g}..{SNR_LIMITS[1]:g} dB")
    if snr_grid is None and values[0] > values[1]:
        raise ValueError(f"SNR range minimum {values[0]} dB is above its maximum {values[1]} dB")


def channel(rng: np.random.Generator, signal: np.ndarray) -> np.ndarray:
    """The impairments every class gets: multipath (≤ 0.4 µs), carrier offset, random phase."""
    taps = int(rng.integers(1, 5))
    delays = np.sort(rng.choice(9, size=taps, replace=False))
    delays -= delays[0]
    profile = np.exp(-delays / 3.0)
    gains = np.sqrt(profile / 2) * (rng.standard_normal(taps) + 1j * rng.standard_normal(taps))
    response = np.zeros(delays[-1] + 1, np.complex128)
    response[delays] = gains / np.sqrt(np.sum(np.abs(gains) ** 2))
    faded = np.convolve(signal, response)[:signal.size]
    offset = rng.uniform(-MAX_CARRIER_OFFSET_HZ, MAX_CARRIER_OFFSET_HZ)
    phase = rng.uniform(0, 2 * np.pi)
    return faded * np.exp(1j * (2 * np.pi * offset / SAMPLE_RATE * np.arange(signal.size) + phase))


def window_starts(active: np.ndarray, window: int, count: int, min_active: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` window starts whose busy fraction is at least ``min_active``.

    Non-overlapping windows are preferred; overlapping ones fill up when the stream has too
    little busy time. Empty when no window qualifies.
    """
    busy = np.concatenate(([0], np.cumsum(active, dtype=np.int64)))
    fraction = (busy[window:] - busy[:-window]) / window
    candidates = np.flatnonzero(fraction >= min_active)
    if candidates.size == 0:
        return candidates
    chosen: list[int] = []
    for start in rng.permutation(candidates)[:64 * count]:
        if all(abs(start - other) >= window for other in chosen):
            chosen.append(int(start))
            if len(chosen) == count:
                break
    if len(chosen) < count:
        chosen += rng.choice(candidates, count - len(chosen)).tolist()
    return np.sort(np.array(chosen))


def add_noise(windows: np.ndarray, snr_db: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White complex Gaussian noise so that each window's measured SNR is ``snr_db``.

    A window with no signal (the noise class) gets unit-power noise.
    """
    power = np.mean(np.abs(windows) ** 2, axis=1)
    noise_power = np.where(power > 0, power / 10 ** (snr_db / 10), 1.0)
    noise = rng.standard_normal(windows.shape) + 1j * rng.standard_normal(windows.shape)
    return windows + noise * np.sqrt(noise_power / 2)[:, None]


def stream_windows(label: int, count: int, rng: np.random.Generator, *, window: int,
                   min_active: float) -> np.ndarray:
    """``count`` clean windows (count, window) of one stream of class ``label``, after the channel."""
    name = CLASSES[label]
    length = window * count * (1 if name in ("lte", "noise") else 2) + window
    for _ in range(20):
        signal, active = SOURCES[name](rng, length)
        if name != "noise":
            signal = channel(rng, signal)
        starts = window_starts(active, window, count, min_active, rng)
        if starts.size:
            return signal[starts[:, None] + np.arange(window)]
    raise RuntimeError(f"could not cut a {min_active:.0%}-busy window of {window} samples from {name} streams")


@dataclass(frozen=True)
class Plan:
    """Which class each stream of a dataset has and how many windows it yields."""

    seed: int
    purpose: int
    classes: np.ndarray  # (streams,) label of each stream
    windows: np.ndarray  # (streams,) windows cut from each stream

    @property
    def streams(self) -> int:
        return int(self.classes.size)


def plan(samples: int, seed: int, *, classes: Sequence[str] | None = None,
         windows_per_stream: int = WINDOWS_PER_STREAM, purpose: int = TRAINING) -> Plan:
    """Balanced classes over ``ceil(samples / windows_per_stream)`` streams in a seeded order."""
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples <= 0:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if windows_per_stream < 1:
        raise ValueError(f"windows_per_stream must be at least 1, got {windows_per_stream}")
    labels = np.array(class_indices(classes))
    streams = -(-samples // windows_per_stream)
    order = np.random.default_rng([seed, purpose, 0]).permutation(streams)
    windows = np.full(streams, windows_per_stream)
    windows[-1] = samples - windows_per_stream * (streams - 1)
    return Plan(int(seed), purpose, labels[order % labels.size], windows)


def generate_iq(samples: int, seed: int, *, classes: Sequence[str] | None = None, window: int = DEFAULT_WINDOW,
                snr_range: tuple[float, float] | None = DEFAULT_SNR_RANGE, snr_grid: Sequence[float] | None = None,
                windows_per_stream: int = WINDOWS_PER_STREAM, min_active: float = MIN_ACTIVE,
                purpose: int = TRAINING, streams: np.ndarray | None = None) -> IQSet:
    """``samples`` noisy windows, classes balanced, SNR uniform in ``snr_range`` or drawn from ``snr_grid``.

    ``streams`` restricts generation to those stream indices of the plan (one client's share);
    the windows are then exactly those the full dataset has for these streams.
    """
    check_snr(snr_range, snr_grid)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 16:
        raise ValueError(f"window must be an integer of at least 16 samples, got {window!r}")
    if not 0.0 < min_active <= 1.0:
        raise ValueError(f"min_active must be in (0, 1], got {min_active}")
    layout = plan(samples, seed, classes=classes, windows_per_stream=windows_per_stream, purpose=purpose)
    chosen = np.arange(layout.streams) if streams is None else np.asarray(streams, np.int64)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= layout.streams):
        raise ValueError(f"stream indices must be in 0..{layout.streams - 1}")
    parts, labels, snrs, ids = [], [], [], []
    for j in chosen:
        rng = np.random.default_rng([seed, purpose, 1, int(j)])
        count, label = int(layout.windows[j]), int(layout.classes[j])
        clean = stream_windows(label, count, rng, window=window, min_active=min_active)
        snr = (rng.uniform(*snr_range, count) if snr_grid is None
               else rng.choice(np.asarray(snr_grid, float), count))
        parts.append(add_noise(clean, snr, rng))
        labels.append(np.full(count, label))
        snrs.append(snr)
        ids.append(np.full(count, j))
    if not parts:
        return IQSet(np.zeros((0, window), np.complex64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                     np.zeros(0, np.int64))
    return IQSet(np.concatenate(parts).astype(np.complex64), np.concatenate(labels).astype(np.int64),
                 np.concatenate(snrs).astype(np.float32), np.concatenate(ids).astype(np.int64))


def split_by_stream(streams: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every stream wholly on one side (no leakage between windows)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    unique = np.unique(streams)
    test_streams = np.random.default_rng([seed, 7]).permutation(unique)[:max(1, round(test_fraction * unique.size))]
    test = np.isin(streams, test_streams)
    return np.flatnonzero(~test), np.flatnonzero(test)
