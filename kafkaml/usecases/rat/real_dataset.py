"""Loader for real captures (Girmay & Shahid, IEEE DataPort 2023, doi 10.21227/72qq-z464).

The published archive's layout could not be checked here, so this loader defines the layout it
accepts — OUR ASSUMPTION, not the dataset's documentation — and refuses anything else with an
error naming the file. Rearrange (or convert) downloaded files into it::

    ROOT/
      lte/    5g_nr/    wifi/    its-g5/    c-v2x/    noise/      one directory per class
        any_name.npy     1-D complex64 or complex128 array of IQ samples
        any_name.cfile   raw interleaved little-endian float32 I, Q pairs (GNU Radio complex64)
        any_name.mat     MATLAB v5/v7 file with exactly one complex vector variable

Directory names match a class case-insensitively ignoring '-', '_', ' ' and '.': the names in
``generator.CLASSES`` and the aliases in :data:`ALIASES` ("5G NR", "Wi-Fi", "ITS-G5",
"C-V2X PC5", ...). Every file is one capture at 20 Msps (resample others first); hidden files
(starting with '.') are ignored. A capture is cut into consecutive windows from its start (the
tail shorter than a window is dropped) and each file is one stream, so splitting by stream keeps
windows of one capture together. SNR is unknown for real captures and is NaN.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

from kafkaml.usecases.rat.generator import CLASSES, DEFAULT_WINDOW, IQSet
from kafkaml.usecases.rat.preprocess import RatDataset, featurise

ALIASES = {
    "lte": "lte", "lte10mhz": "lte", "nr": "nr", "5g": "nr", "5gnr": "nr", "wifi": "wifi", "wlan": "wifi",
    "80211ag": "wifi", "itsg5": "itsg5", "80211p": "itsg5", "dsrc": "itsg5", "cv2x": "cv2x", "cv2xpc5": "cv2x",
    "pc5": "cv2x", "ltev2x": "cv2x", "noise": "noise",
}
EXTENSIONS = (".npy", ".cfile", ".mat")


class RealDatasetError(ValueError):
    """The directory or a file does not follow the documented layout; the message names it."""


def class_of(directory: str) -> str:
    key = re.sub(r"[-_ .]", "", directory.lower())
    if key not in ALIASES:
        raise RealDatasetError(f"unknown class directory {directory!r}: expected one per class, named one of "
                               f"{', '.join(CLASSES)} (or an alias: {', '.join(sorted(ALIASES))})")
    return ALIASES[key]


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RealDatasetError(f"{path}: not a readable .npy array ({exc})") from None


def _read_cfile(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if len(raw) % 8:
        raise RealDatasetError(f"{path}: {len(raw)} bytes is not a whole number of float32 I/Q pairs "
                               "(truncated or not a complex64 file)")
    return np.frombuffer(raw, "<c8")


def _read_mat(path: Path) -> np.ndarray:
    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError:
        raise RealDatasetError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save with -v7") from None
    except (ValueError, OSError, TypeError, zipfile.BadZipFile) as exc:
        raise RealDatasetError(f"{path}: not a readable MATLAB file ({exc})") from None
    variables = {name: value for name, value in content.items() if not name.startswith("__")}
    complex_vectors = [value for value in variables.values()
                       if isinstance(value, np.ndarray) and np.iscomplexobj(value) and max(value.shape, default=0) == value.size]
    if len(complex_vectors) != 1:
        raise RealDatasetError(f"{path}: expected exactly one complex vector variable, found "
                               f"{len(complex_vectors)} among {', '.join(variables) or 'none'}")
    return complex_vectors[0].ravel()


READERS = {".npy": _read_npy, ".cfile": _read_cfile, ".mat": _read_mat}


def read_capture(path: Path) -> np.ndarray:
    """One capture file as a 1-D complex64 array, checked for dtype, shape and finiteness."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise RealDatasetError(f"{path}: unsupported file type {suffix or '(none)'}; expected {', '.join(EXTENSIONS)}")
    samples = READERS[suffix](path)
    if samples.dtype not in (np.complex64, np.complex128):
        raise RealDatasetError(f"{path}: dtype {samples.dtype} is not complex IQ (expected complex64 or complex128)")
    if samples.ndim != 1:
        raise RealDatasetError(f"{path}: expected a 1-D array of IQ samples, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise RealDatasetError(f"{path}: contains NaN or infinite samples")
    return samples.astype(np.complex64)


def load_iq(root: str | Path, *, window: int = DEFAULT_WINDOW, max_windows_per_file: int | None = None) -> IQSet:
    """Every capture under ``root`` cut into windows of ``window`` samples; one stream per file."""
    root = Path(root)
    if not root.is_dir():
        raise RealDatasetError(f"{root}: not a directory")
    if window < 16:
        raise RealDatasetError(f"window must be at least 16 samples, got {window}")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    loose = [p.name for p in entries if not p.is_dir()]
    if loose:
        raise RealDatasetError(f"{root}: files outside class directories: {', '.join(loose[:5])}")
    seen: dict[str, str] = {}
    parts, labels, streams = [], [], []
    for directory in entries:
        name = class_of(directory.name)
        if name in seen:
            raise RealDatasetError(f"{root}: directories {seen[name]!r} and {directory.name!r} are both class {name!r}")
        seen[name] = directory.name
        files = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
        if not files:
            raise RealDatasetError(f"{directory}: class directory holds no captures")
        for path in files:
            if path.is_dir():
                raise RealDatasetError(f"{path}: nested directories are not part of the layout")
            samples = read_capture(path)
            count = samples.size // window
            if count == 0:
                raise RealDatasetError(f"{path}: {samples.size} samples, fewer than one window of {window}")
            if max_windows_per_file is not None:
                count = min(count, max_windows_per_file)
            parts.append(samples[:count * window].reshape(count, window))
            labels.append(np.full(count, CLASSES.index(name)))
            streams.append(np.full(count, len(streams)))
    if not parts:
        raise RealDatasetError(f"{root}: no class directories")
    n = sum(part.shape[0] for part in parts)
    return IQSet(np.concatenate(parts), np.concatenate(labels).astype(np.int64), np.full(n, np.nan, np.float32),
                 np.concatenate(streams).astype(np.int64))


def load(root: str | Path, *, window: int = DEFAULT_WINDOW, max_windows_per_file: int | None = None) -> RatDataset:
    """Real captures as model-ready features, the same arrays :func:`preprocess.generate` gives."""
    return featurise(load_iq(root, window=window, max_windows_per_file=max_windows_per_file))
