"""Weights as bytes: deterministic safetensors payloads, their metadata and content hash.

Why each choice:

* **Format.** A model's weights (a list of numpy arrays, as ``model.get_weights()`` returns) are
  written in the safetensors layout — a JSON header, then raw little-endian tensor bytes — so
  nothing is ever unpickled. We write the bytes ourselves in one canonical form (tensors named
  ``000000``, ``000001``... in list order, compact JSON, header padded with spaces to 8 bytes) so
  the same weights give the same bytes and the same SHA-256 in every process and library
  version: the audit recomputes global versions and compares hashes bit for bit. The result is
  an ordinary safetensors file (the test suite reads it back with the ``safetensors`` package).
* **Metadata.** The header's ``__metadata__`` names, besides the format, the ``training``, the
  ``client`` that published the payload (``platform`` for global versions) and the
  ``base_version`` it was trained or aggregated from. The payload's SHA-256 covers them, so the
  hash a client submits binds its update to its sender and base: an update copied from another
  client names that client and is rejected as foreign. Keys are sorted, so the same weights
  and metadata give the same bytes everywhere.

Moving payloads through Kafka is :mod:`kafkaml.weights.transport`.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

FORMAT_NAME = "kafkaml-weights"
#: Metadata keys: the training, the publisher (``PLATFORM`` for global versions) and the base version.
META_TRAINING, META_CLIENT, META_BASE_VERSION = "training", "client", "base_version"
#: Genesis only: the positions of the model's statistics (see :func:`version_metadata`).
META_STATISTICS = "statistics"
PLATFORM = "platform"
#: Longest metadata value: identities and version numbers, never data.
MAX_METADATA_CHARS = 256

_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}
_CODES = {np.dtype(name): code for code, name in _DTYPES.items()}


class WeightsError(RuntimeError):
    """Base of every weights error (format and transport)."""


class WeightsFormatError(WeightsError, ValueError):
    """Bytes or arrays that are not (or cannot become) a weights payload."""


# --- deterministic serialisation --------------------------------------------------------------------


class WeightSpec(NamedTuple):
    """Shape and dtype (numpy name, e.g. ``float32``) of one weight array of a model."""

    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def of(cls, shape: Sequence[int], dtype: Any) -> WeightSpec:
        """A checked spec; WeightsFormatError for a negative dimension or a dtype payloads cannot hold."""
        dims = tuple(shape)
        if any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0 for n in dims):
            raise WeightsFormatError(f"a weight shape must be non-negative integers, got {dims!r:.80}")
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise WeightsFormatError(f"{dtype!r:.40} is not a dtype") from None
        if np.dtype(name) not in _CODES:
            raise WeightsFormatError(f"dtype {name} cannot be held in a weights payload")
        return cls(tuple(int(n) for n in dims), name)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


def weight_specs(weights: Sequence[np.ndarray]) -> tuple[WeightSpec, ...]:
    """The specs of ``weights`` (e.g. ``model.get_weights()``)."""
    return tuple(WeightSpec.of(np.shape(weight), np.asarray(weight).dtype) for weight in weights)


def update_metadata(training: str, client: str, base_version: int) -> dict[str, str]:
    """The metadata of a payload published by ``client`` from global version ``base_version``."""
    return {META_TRAINING: training, META_CLIENT: client, META_BASE_VERSION: str(base_version)}


def version_metadata(training: str, version: int, statistics: Sequence[int] = ()) -> dict[str, str]:
    """The metadata of global version ``version``: published by the platform, aggregated from the
    previous version (the genesis names 0), so an auditor re-derives its hash from the weights.

    The genesis also names the positions of the model's non-trainable statistics (e.g. batch
    normalisation's moving mean and variance) when it has any: some strategies aggregate them
    apart (:class:`kafkaml.strategies.FedBuff`), and an auditor who holds only the payloads reads
    them here, fixed by the genesis hash the training recorded.
    """
    metadata = update_metadata(training, PLATFORM, max(version - 1, 0))
    if version == 0 and statistics:
        metadata[META_STATISTICS] = _ranges(statistics)
    return metadata


def _ranges(positions: Sequence[int]) -> str:
    """``[2, 3, 8, 9, 12]`` → ``"2-3,8-9,12"``: statistics come in runs, so this stays short."""
    runs: list[list[int]] = []
    for position in sorted(set(positions)):
        if runs and position == runs[-1][1] + 1:
            runs[-1][1] = position
        else:
            runs.append([position, position])
    return ",".join(f"{low}-{high}" if high > low else str(low) for low, high in runs)


def statistics_positions(metadata: Mapping[str, str]) -> tuple[int, ...]:
    """The statistics positions a genesis payload's metadata names (none when it names none).

    Raises WeightsFormatError for a value :func:`version_metadata` cannot have written.
    """
    text = metadata.get(META_STATISTICS, "")
    positions: list[int] = []
    try:
        for run in filter(None, text.split(",")):
            low, _, high = run.partition("-")
            first, last = int(low), int(high or low)
            if first < 0 or last < first or (positions and first <= positions[-1]):
                raise ValueError(run)
            positions.extend(range(first, last + 1))
    except ValueError:
        raise WeightsFormatError(f"metadata {META_STATISTICS!r} is not ascending positions: {text!r:.60}") from None
    return tuple(positions)


def serialize_weights(weights: Sequence[np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The canonical safetensors bytes of ``weights`` and ``metadata`` (same inputs → same bytes)."""
    return b"".join(payload_parts(weights, metadata))


def payload_size(specs: Sequence[WeightSpec | tuple[Sequence[int], Any]],
                 metadata: Mapping[str, str] | None = None) -> int:
    """The exact size in bytes of the payload of weights with these specs and ``metadata``."""
    checked = [WeightSpec.of(*spec) for spec in specs]
    header = _header([(_CODES[np.dtype(spec.dtype)], spec.shape, spec.nbytes) for spec in checked], metadata)
    return len(header) + sum(spec.nbytes for spec in checked)


def payload_parts(weights: Sequence[np.ndarray], metadata: Mapping[str, str] | None = None) -> list[memoryview]:
    """The serialised payload as consecutive buffers (header, then each tensor's bytes), uncopied.

    Hashing and publishing read these directly, so the tensor bytes are never joined into one
    copy just to be cut into chunks again.
    """
    arrays = []
    for index, weight in enumerate(weights):
        array = np.asarray(weight)
        code = _CODES.get(array.dtype.newbyteorder("="))
        if code is None:
            raise WeightsFormatError(f"weight {index} has dtype {array.dtype}, which safetensors cannot hold here")
        arrays.append((code, array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)))
    header = _header([(code, array.shape, array.nbytes) for code, array in arrays], metadata)
    return [memoryview(header), *(memoryview(array.reshape(-1)).cast("B") for _, array in arrays)]


def _header(tensors: Sequence[tuple[str, Sequence[int], int]], metadata: Mapping[str, str] | None) -> bytes:
    """Length prefix + the padded JSON header of tensors given as (dtype code, shape, bytes)."""
    header: dict[str, Any] = {"__metadata__": _metadata(metadata)}
    offset = 0
    for index, (code, shape, nbytes) in enumerate(tensors):
        header[f"{index:06d}"] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The ``__metadata__`` object: the format and ``metadata``, keys sorted (canonical bytes)."""
    fields = dict(metadata or {})
    if "format" in fields:
        raise WeightsFormatError("metadata key 'format' is reserved")
    for key, value in fields.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(value) > MAX_METADATA_CHARS:
            raise WeightsFormatError(f"metadata must map names to strings of at most {MAX_METADATA_CHARS} "
                                     f"characters, got {key!r:.40}: {value!r:.40}")
    fields["format"] = FORMAT_NAME
    return dict(sorted(fields.items()))


@dataclass(frozen=True)
class Decoded:
    """A payload's weights (views of its bytes) and the string metadata of its header."""

    weights: list[np.ndarray]
    metadata: dict[str, str]


def deserialize_weights(payload: bytes | bytearray | memoryview) -> list[np.ndarray]:
    """The weight list of a safetensors payload; arrays are views of ``payload`` (no copy)."""
    return deserialize_payload(payload).weights


def deserialize_payload(payload: bytes | bytearray | memoryview) -> Decoded:
    """The weights and metadata of a safetensors payload (metadata ``{}`` when the header has none)."""
    view = memoryview(payload)
    if len(view) < 8:
        raise WeightsFormatError("payload is shorter than a safetensors header")
    (header_len,) = struct.unpack_from("<Q", view, 0)
    if header_len > len(view) - 8:
        raise WeightsFormatError(f"header length {header_len} exceeds the payload ({len(view)} bytes)")
    try:
        header = json.loads(bytes(view[8:8 + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsFormatError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WeightsFormatError("safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsFormatError("safetensors __metadata__ must map names to strings")
    names = [f"{index:06d}" for index in range(len(header))]
    if sorted(header) != names:
        raise WeightsFormatError(f"tensor names must be 000000..{len(header) - 1:06d}, got {sorted(header)[:5]}...")
    data_start, data_len = 8 + header_len, len(view) - 8 - header_len
    weights, covered = [], []
    for name in names:
        weights.append(_tensor(view, header[name], name, data_start, data_len))
        covered.append(tuple(header[name]["data_offsets"]))
    position = 0
    for start, end in sorted(covered):
        if start != position:
            raise WeightsFormatError(f"tensor data has a gap or overlap at byte {position}")
        position = end
    if position != data_len:
        raise WeightsFormatError(f"tensor data covers {position} of {data_len} bytes")
    return Decoded(weights, metadata)


def _tensor(view: memoryview, entry: Any, name: str, data_start: int, data_len: int) -> np.ndarray:
    try:
        dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
        shape = tuple(int(n) for n in entry["shape"])
        start, end = (int(n) for n in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise WeightsFormatError(f"tensor {name} has a malformed header entry: {entry!r:.100}") from None
    count = int(np.prod(shape, dtype=np.int64))
    if min(shape, default=0) < 0 or not 0 <= start <= end <= data_len or end - start != count * dtype.itemsize:
        raise WeightsFormatError(f"tensor {name}: shape {shape} of {dtype} does not fit offsets [{start}, {end})")
    return np.frombuffer(view, dtype=dtype, count=count, offset=data_start + start).reshape(shape)


def payload_hash(payload: bytes | bytearray | memoryview) -> bytes:
    return hashlib.sha256(payload).digest()


def weights_hash(weights: Sequence[np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The content hash recorded on chain for ``weights``: SHA-256 of :func:`serialize_weights`."""
    digest = hashlib.sha256()
    for part in payload_parts(weights, metadata):
        digest.update(part)
    return digest.digest()
