"""The real-capture loader: the documented layout loads, anything else fails naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from kafkaml.usecases.rat.generator import CLASSES
from kafkaml.usecases.rat.preprocess import spectra
from kafkaml.usecases.rat.real_dataset import RealDatasetError, load, load_iq


def capture(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Three classes in the three file formats, with alias directory names."""
    (tmp_path / "LTE").mkdir()
    np.save(tmp_path / "LTE" / "a.npy", capture(1, 100))
    np.save(tmp_path / "LTE" / "b.npy", capture(2, 64).astype(np.complex128))
    (tmp_path / "5G_NR").mkdir()
    capture(3, 75).astype("<c8").tofile(tmp_path / "5G_NR" / "x.cfile")
    (tmp_path / "C-V2X PC5").mkdir()
    scipy.io.savemat(tmp_path / "C-V2X PC5" / "y.mat", {"iq": capture(4, 40)[:, None], "fs": 20e6})
    (tmp_path / ".DS_Store").write_bytes(b"ignored")
    return tmp_path


def test_the_documented_layout_loads_into_windows_one_stream_per_file(root):
    data = load_iq(root, window=32)
    names = [CLASSES[label] for label in data.labels]
    assert names.count("lte") == 3 + 2 and names.count("nr") == 2 and names.count("cv2x") == 1
    assert data.iq.dtype == np.complex64 and data.iq.shape == (8, 32)
    assert np.unique(data.stream).size == 4 and np.isnan(data.snr_db).all()
    first_lte_file = data.stream[data.labels == CLASSES.index("lte")].min()  # a.npy: files are sorted
    lte_a = data.iq[data.stream == first_lte_file]
    np.testing.assert_array_equal(lte_a.ravel(), capture(1, 100)[:96])
    features = load(root, window=32, max_windows_per_file=1)
    assert features.x.shape == (4, 2, 32, 1)
    np.testing.assert_array_equal(features.x[features.stream == first_lte_file][0],
                                  spectra(capture(1, 100)[None, :32])[0])


def _expect(root: Path, match: str) -> None:
    with pytest.raises(RealDatasetError, match=match):
        load_iq(root, window=32)


def test_an_unknown_class_directory_is_refused(root):
    (root / "gsm").mkdir()
    np.save(root / "gsm" / "a.npy", capture(5, 64))
    _expect(root, "unknown class directory 'gsm'")


def test_two_directories_of_one_class_are_refused(root):
    (root / "lte").mkdir()
    np.save(root / "lte" / "c.npy", capture(5, 64))
    _expect(root, "both class 'lte'")


def test_a_corrupt_npy_file_is_named(root):
    (root / "LTE" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    _expect(root, r"broken.npy: not a readable .npy")


def test_a_real_valued_npy_file_is_the_wrong_dtype(root):
    np.save(root / "LTE" / "real.npy", np.ones(64, np.float32))
    _expect(root, r"real.npy: dtype float32 is not complex")


def test_a_two_dimensional_array_is_refused(root):
    np.save(root / "LTE" / "matrix.npy", capture(6, 64).reshape(2, 32))
    _expect(root, "expected a 1-D array")


def test_a_truncated_cfile_is_refused(root):
    (root / "5G_NR" / "cut.cfile").write_bytes(capture(7, 40).tobytes()[:-3])
    _expect(root, "not a whole number of float32 I/Q pairs")


def test_non_finite_samples_are_refused(root):
    samples = capture(8, 64)
    samples[5] = np.nan
    np.save(root / "LTE" / "nan.npy", samples)
    _expect(root, "NaN or infinite")


def test_a_mat_file_needs_exactly_one_complex_vector(root):
    scipy.io.savemat(root / "C-V2X PC5" / "two.mat", {"a": capture(9, 40), "b": capture(10, 40)})
    _expect(root, "exactly one complex vector variable, found 2")


def test_a_corrupt_mat_file_is_named(root):
    (root / "C-V2X PC5" / "bad.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    _expect(root, r"bad.mat: ")


def test_a_capture_shorter_than_a_window_is_refused(root):
    np.save(root / "LTE" / "short.npy", capture(11, 20))
    _expect(root, "fewer than one window of 32")


def test_unsupported_files_loose_files_and_empty_classes_are_refused(root, tmp_path):
    (root / "LTE" / "notes.txt").write_text("hello")
    _expect(root, r"unsupported file type .txt")
    (root / "LTE" / "notes.txt").unlink()
    (root / "stray.npy").write_bytes(b"")
    _expect(root, "files outside class directories")
    (root / "stray.npy").unlink()
    (root / "noise").mkdir()
    _expect(root, "holds no captures")
    with pytest.raises(RealDatasetError, match="not a directory"):
        load_iq(tmp_path / "missing")
