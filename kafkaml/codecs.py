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
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import fastavro
import numpy as np
from fastavro.validation import ValidationError, validate

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


class RawCodec:
    """RAW records: array bytes as value, label bytes as key."""

    def __init__(self, input_shape: tuple[int, ...], input_dtype: str, label_shape: tuple[int, ...],
                 label_dtype: str) -> None:
        self.input_shape, self.input_dtype = tuple(input_shape), input_dtype
        self.label_shape, self.label_dtype = tuple(label_shape), label_dtype
        self._input = little_endian(input_dtype)
        self._label = little_endian(label_dtype)
        self.value_bytes = int(np.prod(self.input_shape, dtype=np.int64)) * self._input.itemsize
        self.key_bytes = int(np.prod(self.label_shape, dtype=np.int64)) * self._label.itemsize

    def encode(self, data: Any, label: Any) -> tuple[bytes, bytes]:
        """(value, key) of one sample."""
        x = as_array(data, self.input_shape, self.input_dtype, "sample")
        y = as_array(label, self.label_shape, self.label_dtype, "label")
        return x.astype(self._input, copy=False).tobytes(), y.astype(self._label, copy=False).tobytes()

    def decode(self, value: bytes, key: bytes | None) -> tuple[np.ndarray, np.ndarray]:
        if len(value) != self.value_bytes or key is None or len(key) != self.key_bytes:
            raise SampleError(
                f"record of {len(value)} value bytes / {0 if key is None else len(key)} key bytes does not "
                f"hold a {self.input_shape} {self.input_dtype} sample and a {self.label_shape} {self.label_dtype} label"
            )
        x = np.frombuffer(value, self._input).reshape(self.input_shape)
        y = np.frombuffer(key, self._label).reshape(self.label_shape)
        return x, y


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


class AvroCodec:
    """Avro records: sample record as value, label record as key, schemaless."""

    def __init__(self, data_schema: Mapping[str, Any], label_schema: Mapping[str, Any],
                 input_shape: tuple[int, ...], input_dtype: str, label_shape: tuple[int, ...],
                 label_dtype: str) -> None:
        self.input_shape, self.input_dtype = tuple(input_shape), input_dtype
        self.label_shape, self.label_dtype = tuple(label_shape), label_dtype
        self._parts = []
        for name, schema in (("data_schema", data_schema), ("label_schema", label_schema)):
            def error(problem: str, name: str = name) -> SampleError:
                return SampleError(f"Avro {name} {problem}")
            fields = avro_fields(schema, error)
            try:
                parsed = fastavro.parse_schema(dict(schema))
            except (fastavro.schema.SchemaParseException, fastavro.schema.UnknownType, ValueError) as exc:
                raise SampleError(f"Avro {name} is not a valid schema: {exc}") from None
            self._parts.append((parsed, [field_name for field_name, _, _ in fields]))

    def encode(self, data: Mapping[str, Any], label: Mapping[str, Any]) -> tuple[bytes, bytes]:
        value = self._write(self._parts[0], data, "sample")
        key = self._write(self._parts[1], label, "label")
        # Decoding checks the flattened shape, so a record that fits the schema but not the
        # declared shape is refused here, before it is sent.
        self.decode(value, key)
        return value, key

    def decode(self, value: bytes, key: bytes | None) -> tuple[np.ndarray, np.ndarray]:
        if key is None:
            raise SampleError("Avro record has no key (the label record)")
        x = self._flatten(self._parts[0], value, self.input_shape, self.input_dtype, "sample")
        y = self._flatten(self._parts[1], key, self.label_shape, self.label_dtype, "label")
        return x, y

    @staticmethod
    def _write(part: tuple[Any, list[str]], record: Mapping[str, Any], what: str) -> bytes:
        schema, _ = part
        if not isinstance(record, Mapping):
            raise SampleError(f"{what} must be a dict matching the Avro schema, got {type(record).__name__}")
        try:
            validate(record, schema)
        except ValidationError as exc:
            problems = "; ".join(f"{e.field} is {e.datum!r:.40}, expected {e.schema}" for e in exc.errors)
            raise SampleError(f"{what} does not match its Avro schema: {problems}") from None
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    @staticmethod
    def _flatten(part: tuple[Any, list[str]], raw: bytes, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
        schema, names = part
        try:
            record = fastavro.schemaless_reader(io.BytesIO(raw), schema)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise SampleError(f"{what} is not a record of its Avro schema: {exc}") from None
        flat = np.concatenate([np.ravel(np.asarray(record[name], dtype=dtype)) for name in names])
        expected = int(np.prod(shape, dtype=np.int64))
        if flat.size != expected:
            raise SampleError(f"{what} holds {flat.size} numbers, the datasource declares shape {shape}")
        return flat.reshape(shape)


def codec_for(control: Any) -> RawCodec | AvroCodec:
    """The codec a :class:`kafkaml.messages.kinds.DataControl` describes."""
    if control.format == "RAW":
        return RawCodec(control.input_shape, control.input_dtype, control.label_shape, control.label_dtype)
    return AvroCodec(control.avro_data_schema, control.avro_label_schema, control.input_shape,
                     control.input_dtype, control.label_shape, control.label_dtype)
