"""The model that answers: its file fetched or read, bounded, pinned by its SHA-256, loaded
without running code, and its output turned into answers.

The file is the aggregator's ``model.save`` of a finished training (a Keras v3 ``.keras`` zip:
JSON configuration and weights). It is trusted only after its SHA-256 equals MODEL_SHA256, the
hash the platform recorded when the training ended; it is loaded with ``safe_mode=True`` (no
``Lambda`` bytecode is deserialised) and never compiled, so no code of the model's author runs
here. Keras picks its loader from the file name, so the bytes always go to a ``.keras`` path of
the worker's own: a file of another format is refused, never read by a legacy loader.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import requests

from kafkaml.architecture import ArchitectureError, check_input_shape
from kafkaml.config import read_secret
from kafkaml.jobs import InferenceJob

log = logging.getLogger(__name__)

#: The largest model file: the backend stores none larger (``backend/api/services/results.py``).
MAX_MODEL_BYTES = 2 * 1024**3
CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_S = 60.0


class ModelRefused(RuntimeError):
    """The model cannot be fetched, is not the one MODEL_SHA256 pins, or cannot answer the input."""


def model_file(job: InferenceJob, directory: Path, *, max_bytes: int = MAX_MODEL_BYTES) -> Path:
    """The job's model copied into ``directory`` as ``model.keras`` once its SHA-256 matched."""
    target = directory / "model.keras"
    if job.model_file is not None:
        source = Path(job.model_file)
        try:
            size = source.stat().st_size
            if size > max_bytes:
                raise ModelRefused(f"MODEL_FILE {source} is {size} bytes, at most {max_bytes}")
            with source.open("rb") as handle:
                _copy(iter(lambda: handle.read(CHUNK), b""), target, job.model_sha256, max_bytes, str(source))
        except OSError as exc:
            raise ModelRefused(f"MODEL_FILE {source} cannot be read: {exc.strerror}") from None
        return target
    assert job.model_url is not None
    token = read_secret("INFERENCE_TOKEN")
    try:
        response = requests.get(job.model_url, headers={"Authorization": f"Job {token}"}, stream=True,
                                timeout=DOWNLOAD_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ModelRefused(f"cannot fetch the model from {job.model_url}: {type(exc).__name__}") from None
    with response:
        if response.status_code != 200:
            raise ModelRefused(f"GET {job.model_url} answered {response.status_code}")
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > max_bytes:
            raise ModelRefused(f"the model at {job.model_url} is {announced} bytes, at most {max_bytes}")
        try:
            _copy(response.iter_content(CHUNK), target, job.model_sha256, max_bytes, job.model_url)
        except requests.RequestException as exc:
            raise ModelRefused(f"the model download from {job.model_url} broke off: {type(exc).__name__}") from None
    return target


def _copy(chunks: Iterable[bytes], target: Path, sha256: str, max_bytes: int, source: str) -> None:
    """Write ``chunks`` to ``target``, bounded and hashed; nothing is left there on any failure."""
    digest, size = hashlib.sha256(), 0
    try:
        with target.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ModelRefused(f"the model from {source} is larger than {max_bytes} bytes")
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != sha256:
            raise ModelRefused(f"the model from {source} has SHA-256 {digest.hexdigest()}, MODEL_SHA256 pins "
                               f"{sha256}: refused")
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def load_model(job: InferenceJob) -> Any:
    """The job's model, verified and loaded (no code of its author runs)."""
    import keras

    with tempfile.TemporaryDirectory(prefix="kafkaml-inference-") as directory:
        path = model_file(job, Path(directory))
        if not zipfile.is_zipfile(path):
            raise ModelRefused("the model file is not a Keras v3 .keras archive")
        try:
            return keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises anything from ValueError to TypeError on a bad archive
            raise ModelRefused(f"the model file does not load: {type(exc).__name__}: {str(exc)[:300]}") from None


class Predictor:
    """One model's answers: ``{"class", "probabilities"}`` for a classifier (its output layer is
    a softmax), ``{"values"}`` otherwise."""

    #: Why an output that :meth:`answers` gives no answer for is answered as an error.
    NOT_FINITE = "the model's output for this sample is not finite (NaN or infinity)"

    def __init__(self, model: Any, sample_shape: tuple[int, ...]) -> None:
        import keras

        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ModelRefused(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                               "inference answers with models of one input and one output")
        try:
            check_input_shape(tuple(model.inputs[0].shape[1:]), sample_shape)
        except ArchitectureError as exc:
            raise ModelRefused(f"{exc} (INPUT_CONFIG)") from None
        self.model = model
        last = model.layers[-1]
        activation = getattr(getattr(last, "activation", None), "__name__", None)
        self.classifier = (isinstance(last, keras.layers.Softmax) or activation == "softmax") \
            and len(model.outputs[0].shape) == 2

    def predict(self, samples: np.ndarray) -> np.ndarray:
        """The model's output for a batch of samples, as ``model.predict`` gives it."""
        return np.asarray(self.model.predict_on_batch(samples))

    def answers(self, outputs: np.ndarray) -> list[dict[str, Any] | None]:
        """The answer each sample's output gives, None where it is not finite (NaN or infinity).

        One pass over the whole batch: a numpy call per sample costs microseconds each, several
        per answer, on the worker's busiest thread.
        """
        if not len(outputs):
            return []
        rows = outputs.reshape(len(outputs), -1)
        finite = np.isfinite(rows).all(axis=1).tolist()
        listed = outputs.tolist()
        if self.classifier:
            classes = rows.argmax(axis=1).tolist()
            return [{"class": index, "probabilities": output} if ok else None
                    for ok, index, output in zip(finite, classes, listed, strict=True)]
        return [{"values": output} if ok else None for ok, output in zip(finite, listed, strict=True)]
