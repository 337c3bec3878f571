"""How one labelled sample becomes a Kafka record and back, for RAW and Avro datasources.

Shared by the sinks (data owners encode) and the streams (trainers decode) so both sides agree
byte for byte. The record layout is the earlier Kafka-ML's, which existing producers use:

* RAW: value = the sample array's bytes (C order, little-endian), key = the label's bytes; shape
  and dtype travel in the data control message.
* Avro: value = the sample record, key = the label record, both schemaless Avro with the
  schemas carried in the data control message. A record becomes an array by flattening its
  fields in schema order (numbers and arrays of numbers), then reshaping to the declared shape.

Encoders check every sample against the declared shape and dtype and raise :class:`SampleError`
*before* anything is sent, so a bad sample never lands in a topic.

An inference deployment's input is the same value without a label (the key is the producer's,
passed through to the prediction): :func:`sample_codec` checks its configuration and gives the
codec of one record's value.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import fastavro
import numpy as np
from fastavro.validation import ValidationError, validate

from kafkaml.messages.fields import check_dtype

NUMERIC_AVRO = {"int": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}


class SampleError(ValueError):
    """A sample does not match the datasource's declared shape, dtype or schema."""


def little_endian(dtype: str) -> np.dtype:
    return np.dtype(dtype).newbyteorder("<")


def as_array(value: Any, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
    """``value`` as an array of exactly ``shape``/``dtype``; numpy input must already match.

    Python scalars and lists are converted when that loses nothing (``3`` into int32 is fine,
    ``3.5`` into int32 is not); numpy arrays of another dtype are refused rather than silently
    cast, because a float64 array sent to a float32 datasource is almost always a mistake.
    """
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype != np.dtype(dtype):
            raise SampleError(f"{what} has dtype {array.dtype}, the datasource declares {dtype}")
    else:
        try:
            original = np.asarray(value)
            array = original.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise SampleError(f"{what} cannot be read as {dtype}: {exc}") from None
        if original.shape != array.shape or not np.array_equal(original, array):
            raise SampleError(f"{what} cannot be represented as {dtype} without loss")
    if array.shape != tuple(shape):
        raise SampleError(f"{what} has shape {array.shape}, the datasource declares {tuple(shape)}")
    return array


class RawArray:
    """One array of a RAW record: its bytes, C order, little-endian, exactly ``shape``/``dtype``."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = tuple(shape), dtype
        self._wire = little_endian(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self._wire.itemsize

    def encode(self, array: np.ndarray) -> bytes:
        return array.astype(self._wire, copy=False).tobytes()

    def fits(self, raw: bytes | None) -> bool:
        return raw is not None and len(raw) == self.nbytes

    def decode(self, raw: bytes) -> np.ndarray:
        """The array ``raw`` holds; the caller checked :meth:`fits` first."""
        return np.frombuffer(raw, self._wire).reshape(self.shape)


class RawCodec:
    """RAW records: array bytes as value, label bytes as key."""

    def __init__(self, input_shape: tuple[int, ...], input_dtype: str, label_shape: tuple[int, ...],
                 label_dtype: str) -> None:
        self.input_shape, self.input_dtype = tuple(input_shape), input_dtype
        self.label_shape, self.label_dtype = tuple(label_shape), label_dtype
        self._input = RawArray(input_shape, input_dtype)
        self._label = RawArray(label_shape, label_dtype)
        self.value_bytes, self.key_bytes = self._input.nbytes, self._label.nbytes

    def encode(self, data: Any, label: Any) -> tuple[bytes, bytes]:
        """(value, key) of one sample."""
        x = as_array(data, self.input_shape, self.input_dtype, "sample")
        y = as_array(label, self.label_shape, self.label_dtype, "label")
        return self._input.encode(x), self._label.encode(y)

    def decode(self, value: bytes, key: bytes | None) -> tuple[np.ndarray, np.ndarray]:
        if not self._input.fits(value) or not self._label.fits(key):
            raise SampleError(
                f"record of {len(value)} value bytes / {0 if key is None else len(key)} key bytes does not "
                f"hold a {self.input_shape} {self.input_dtype} sample and a {self.label_shape} {self.label_dtype} label"
            )
        assert key is not None
        return self._input.decode(value), self._label.decode(key)


def avro_fields(schema: Mapping[str, Any], error: Callable[[str], Exception]) -> list[tuple[str, str, bool]]:
    """(name, numpy dtype, is_array) of each field of a record schema of numbers/arrays of numbers."""
    if schema.get("type") != "record" or not isinstance(schema.get("fields"), list) or not schema["fields"]:
        raise error("expected an Avro record schema with at least one field")
    fields = []
    for item in schema["fields"]:
        kind = item.get("type") if isinstance(item, Mapping) else None
        is_array = isinstance(kind, Mapping) and kind.get("type") == "array"
        scalar = kind.get("items") if is_array else kind
        if scalar not in NUMERIC_AVRO:
            raise error(f"field {item.get('name') if isinstance(item, Mapping) else item!r} must be a number "
                        f"or an array of numbers ({', '.join(NUMERIC_AVRO)}), got {kind!r:.60}")
        fields.append((item["name"], NUMERIC_AVRO[scalar], is_array))
    return fields


def _common_dtype(fields: list[tuple[str, str, bool]]) -> str:
    return np.result_type(*[np.dtype(dtype) for _, dtype, _ in fields]).name


def avro_layout(schema: Mapping[str, Any], error: Callable[[str], Exception]) -> tuple[tuple[int, ...], str]:
    """Shape and dtype of a record of scalar fields: one field → a scalar, n fields → a vector.

    Records with array fields have no shape in their schema; their sinks declare it.
    """
    fields = avro_fields(schema, error)
    if any(is_array for _, _, is_array in fields):
        raise error("has array fields, so its shape is not in the schema; declare input_shape/label_shape")
    return (() if len(fields) == 1 else (len(fields),)), _common_dtype(fields)


class AvroRecord:
    """One schemaless Avro record of numbers and arrays of numbers, flattened in schema order."""

    def __init__(self, schema: Mapping[str, Any], name: str) -> None:
        def error(problem: str) -> SampleError:
            return SampleError(f"Avro {name} {problem}")
        self.fields = avro_fields(schema, error)
        try:
            self._schema = fastavro.parse_schema(dict(schema))
        except (fastavro.schema.SchemaParseException, fastavro.schema.UnknownType, ValueError) as exc:
            raise SampleError(f"Avro {name} is not a valid schema: {exc}") from None
        self._names = [field_name for field_name, _, _ in self.fields]

    def write(self, record: Mapping[str, Any], what: str) -> bytes:
        if not isinstance(record, Mapping):
            raise SampleError(f"{what} must be a dict matching the Avro schema, got {type(record).__name__}")
        try:
            validate(record, self._schema)
        except ValidationError as exc:
            problems = "; ".join(f"{e.field} is {e.datum!r:.40}, expected {e.schema}" for e in exc.errors)
            raise SampleError(f"{what} does not match its Avro schema: {problems}") from None
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._schema, record)
        return buffer.getvalue()

    def flatten(self, raw: bytes, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
        try:
            record = fastavro.schemaless_reader(io.BytesIO(raw), self._schema)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise SampleError(f"{what} is not a record of its Avro schema: {exc}") from None
        flat = np.concatenate([np.ravel(np.asarray(record[name], dtype=dtype)) for name in self._names])
        expected = int(np.prod(shape, dtype=np.int64))
        if flat.size != expected:
            raise SampleError(f"{what} holds {flat.size} numbers, its declared shape {shape} holds {expected}")
        return flat.reshape(shape)


class AvroCodec:
    """Avro records: sample record as value, label record as key, schemaless."""

    def __init__(self, data_schema: Mapping[str, Any], label_schema: Mapping[str, Any],
                 input_shape: tuple[int, ...], input_dtype: str, label_shape: tuple[int, ...],
                 label_dtype: str) -> None:
        self.input_shape, self.input_dtype = tuple(input_shape), input_dtype
        self.label_shape, self.label_dtype = tuple(label_shape), label_dtype
        self._data = AvroRecord(data_schema, "data_schema")
        self._label = AvroRecord(label_schema, "label_schema")

    def encode(self, data: Mapping[str, Any], label: Mapping[str, Any]) -> tuple[bytes, bytes]:
        value = self._data.write(data, "sample")
        key = self._label.write(label, "label")
        # Decoding checks the flattened shape, so a record that fits the schema but not the
        # declared shape is refused here, before it is sent.
        self.decode(value, key)
        return value, key

    def decode(self, value: bytes, key: bytes | None) -> tuple[np.ndarray, np.ndarray]:
        if key is None:
            raise SampleError("Avro record has no key (the label record)")
        x = self._data.flatten(value, self.input_shape, self.input_dtype, "sample")
        y = self._label.flatten(key, self.label_shape, self.label_dtype, "label")
        return x, y


def codec_for(control: Any) -> RawCodec | AvroCodec:
    """The codec a :class:`kafkaml.messages.kinds.DataControl` describes."""
    if control.format == "RAW":
        return RawCodec(control.input_shape, control.input_dtype, control.label_shape, control.label_dtype)
    return AvroCodec(control.avro_data_schema, control.avro_label_schema, control.input_shape,
                     control.input_dtype, control.label_shape, control.label_dtype)


# An inference deployment's input: its user writes the configuration and anyone who can write the
# input topic writes the records, so both are bounded before anything is allocated from them.

#: The largest INPUT_CONFIG (its JSON), which mostly holds an Avro schema.
MAX_INPUT_CONFIG_BYTES = 64 * 1024
#: The most dimensions a sample may have.
MAX_SAMPLE_DIMS = 8
#: The largest sample, as its array's bytes (a RAT sample is 7 KiB, a 224×224 RGB image 600 KiB).
MAX_SAMPLE_BYTES = 16 * 1024 * 1024
#: Keys of the earlier Kafka-ML's training configuration that say nothing about an inference input:
#: accepted so a datasource's configuration can be reused as it is, and ignored.
_LABEL_KEYS = frozenset({"label_type", "label_reshape", "label_scheme"})
SAMPLE_FORMATS = ("RAW", "AVRO")


def parse_shape(value: Any, error: Callable[[str], Exception]) -> tuple[int, ...]:
    """A shape written as a list of integers or as the earlier Kafka-ML's ``"28 28"`` text (or ``8``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        dims: tuple[int, ...] = (value,)
    elif isinstance(value, str):
        try:
            dims = tuple(int(part) for part in value.replace(",", " ").split())
        except ValueError:
            raise error(f"expected space-separated integers like '28 28', got {value!r:.40}") from None
    elif isinstance(value, list | tuple) and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        dims = tuple(value)
    else:
        raise error(f"expected a list of integers or text like '28 28', got {value!r:.40}")
    if any(d <= 0 for d in dims):
        raise error(f"dimensions must be positive, got {value!r:.40}")
    return dims


class RawSampleCodec:
    """RAW inference input: the value is one sample's array bytes; the key is the caller's."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = tuple(shape), dtype
        self._array = RawArray(shape, dtype)
        #: Exactly the size of a sample; a record of another size is refused unread.
        self.max_value_bytes = self._array.nbytes

    def decode_sample(self, value: bytes | None) -> np.ndarray:
        if not self._array.fits(value):
            size = "no value" if value is None else f"{len(value)} bytes"
            raise SampleError(f"record of {size} does not hold a {self.shape} {self.dtype} sample "
                              f"({self._array.nbytes} bytes)")
        assert value is not None
        return self._array.decode(value)


class AvroSampleCodec:
    """Avro inference input: the value is one sample record, schemaless; the key is the caller's."""

    def __init__(self, schema: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = tuple(shape), dtype
        self._record = AvroRecord(schema, "data_scheme")
        numbers = int(np.prod(self.shape, dtype=np.int64))
        #: Twice the widest encoding of its numbers (a long's varint takes up to 10 bytes) and
        #: room for each field's array block counts: a larger record cannot be a sample, and
        #: is refused before it is decoded into Python objects many times its size.
        self.max_value_bytes = 2 * (10 * numbers + 20 * len(self._record.fields))

    def decode_sample(self, value: bytes | None) -> np.ndarray:
        if value is None or len(value) > self.max_value_bytes:
            size = "no value" if value is None else f"{len(value)} bytes"
            raise SampleError(f"record of {size} cannot be a {self.shape} Avro sample "
                              f"(at most {self.max_value_bytes} bytes)")
        return self._record.flatten(value, self.shape, self.dtype, "sample")


def sample_codec(input_format: str, input_config: Mapping[str, Any], *,
                 max_sample_bytes: int = MAX_SAMPLE_BYTES) -> RawSampleCodec | AvroSampleCodec:
    """The codec of an inference deployment's input, or :class:`SampleError` saying what is wrong.

    The configuration is the earlier Kafka-ML's INPUT_CONFIG: RAW ``{"data_type": "float32",
    "data_reshape": [2, 128]}`` (or ``"2 128"``); AVRO ``{"data_scheme": <record schema, or its
    JSON text>, "data_reshape": [...]}``, the shape optional when the record has scalar fields only
    (n fields make a vector of n). Its ``label_*`` keys are accepted and ignored; other keys are
    refused, since a misspelt key would otherwise silently fall back to a default.
    """
    if input_format not in SAMPLE_FORMATS:
        raise SampleError(f"input format must be one of {', '.join(SAMPLE_FORMATS)}, got {input_format!r:.40}")
    if not isinstance(input_config, Mapping):
        raise SampleError(f"input config must be a JSON object, got {type(input_config).__name__}")
    try:
        size = len(json.dumps(input_config))
    except (TypeError, ValueError, RecursionError):
        raise SampleError("input config is not JSON") from None
    if size > MAX_INPUT_CONFIG_BYTES:
        raise SampleError(f"input config is {size} bytes of JSON, at most {MAX_INPUT_CONFIG_BYTES}")
    allowed = {"data_type", "data_reshape"} if input_format == "RAW" else {"data_scheme", "data_reshape"}
    unknown = sorted(set(input_config) - allowed - _LABEL_KEYS)
    if unknown:
        raise SampleError(f"input config has unknown keys {unknown} ({input_format} takes {sorted(allowed)})")
    if input_format == "RAW":
        shape, dtype, schema = _raw_layout(input_config)
    else:
        schema = _avro_schema(input_config)
        shape, dtype = _avro_sample_layout(schema, input_config)
    _check_size(shape, dtype, max_sample_bytes)
    return RawSampleCodec(shape, dtype) if schema is None else AvroSampleCodec(schema, shape, dtype)


def _config_error(key: str) -> Callable[[str], SampleError]:
    return lambda problem: SampleError(f"input config {key}: {problem}")


def _raw_layout(config: Mapping[str, Any]) -> tuple[tuple[int, ...], str, None]:
    for key in ("data_type", "data_reshape"):
        if key not in config:
            raise SampleError(f"input config {key}: is required for RAW input")
    if not isinstance(config["data_type"], str):
        raise SampleError(f"input config data_type: expected a dtype name, got {config['data_type']!r:.40}")
    dtype = check_dtype(config["data_type"], _config_error("data_type"))
    return parse_shape(config["data_reshape"], _config_error("data_reshape")), dtype, None


def _avro_schema(config: Mapping[str, Any]) -> Mapping[str, Any]:
    schema = config.get("data_scheme")
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            raise SampleError("input config data_scheme: not valid JSON") from None
    if not isinstance(schema, Mapping):
        raise SampleError("input config data_scheme: expected an Avro record schema (a JSON object)")
    return schema


def _avro_sample_layout(schema: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[tuple[int, ...], str]:
    error = _config_error("data_scheme")
    fields = avro_fields(schema, error)
    scalars = not any(is_array for _, _, is_array in fields)
    if "data_reshape" not in config:
        if not scalars:
            raise SampleError("input config data_reshape: is required when the Avro record has array fields")
        shape, dtype = avro_layout(schema, error)
        return shape or (1,), dtype
    shape = parse_shape(config["data_reshape"], _config_error("data_reshape"))
    if scalars and math.prod(shape) != len(fields):
        raise SampleError(f"input config data_reshape: {shape} holds {math.prod(shape)} numbers, "
                          f"the Avro record has {len(fields)} scalar fields")
    return shape, _common_dtype(fields)


def _check_size(shape: tuple[int, ...], dtype: str, max_sample_bytes: int) -> None:
    if not 1 <= len(shape) <= MAX_SAMPLE_DIMS:
        raise SampleError(f"input config data_reshape: a sample has 1 to {MAX_SAMPLE_DIMS} dimensions, got {len(shape)}")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > max_sample_bytes:
        raise SampleError(f"input config data_reshape: a {shape} {dtype} sample is {nbytes} bytes, "
                          f"at most {max_sample_bytes}")
