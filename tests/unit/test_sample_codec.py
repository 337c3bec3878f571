"""An inference deployment's input: ``sample_codec`` refuses every wrong configuration with a
message naming the problem, and its codecs decode one record's value or refuse it."""

from __future__ import annotations

import io
import json

import fastavro
import numpy as np
import pytest

from kafkaml.codecs import (
    MAX_INPUT_CONFIG_BYTES,
    MAX_SAMPLE_BYTES,
    AvroSampleCodec,
    RawSampleCodec,
    SampleError,
    sample_codec,
)

SCALARS = {"type": "record", "name": "S", "fields": [
    {"name": "a", "type": "float"}, {"name": "b", "type": "float"}, {"name": "c", "type": "int"}]}
ARRAYS = {"type": "record", "name": "A", "fields": [
    {"name": "i", "type": {"type": "array", "items": "float"}},
    {"name": "q", "type": {"type": "array", "items": "float"}}]}


def _avro(schema: dict, record: dict) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


@pytest.mark.parametrize("reshape", [[2, 3], "2 3", "2,3", (2, 3)])
def test_raw_config_in_both_forms_decodes_a_sample(reshape) -> None:
    codec = sample_codec("RAW", {"data_type": "float32", "data_reshape": reshape})
    assert isinstance(codec, RawSampleCodec)
    sample = np.arange(6, dtype=np.float32).reshape(2, 3)
    decoded = codec.decode_sample(sample.astype("<f4").tobytes())
    assert decoded.dtype == np.float32 and np.array_equal(decoded, sample)
    assert codec.max_value_bytes == 24


def test_raw_config_may_carry_the_earlier_label_keys() -> None:
    config = {"data_type": "uint8", "data_reshape": "28 28", "label_type": "int64", "label_reshape": ""}
    assert sample_codec("RAW", config).shape == (28, 28)


@pytest.mark.parametrize("value", [b"", b"\0" * 23, b"\0" * 25, None])
def test_raw_record_of_the_wrong_size_is_refused(value) -> None:
    codec = sample_codec("RAW", {"data_type": "float32", "data_reshape": [2, 3]})
    with pytest.raises(SampleError, match=r"does not hold a \(2, 3\) float32 sample \(24 bytes\)"):
        codec.decode_sample(value)


def test_avro_shape_comes_from_scalar_fields() -> None:
    codec = sample_codec("AVRO", {"data_scheme": SCALARS, "label_scheme": {"type": "int"}})
    assert isinstance(codec, AvroSampleCodec)
    assert (codec.shape, codec.dtype) == ((3,), "float64")
    assert codec.decode_sample(_avro(SCALARS, {"a": 1.5, "b": -2.0, "c": 7})).tolist() == [1.5, -2.0, 7.0]


def test_avro_schema_as_json_text_with_a_declared_shape() -> None:
    codec = sample_codec("AVRO", {"data_scheme": json.dumps(ARRAYS), "data_reshape": "2 4"})
    decoded = codec.decode_sample(_avro(ARRAYS, {"i": [1, 2, 3, 4], "q": [5, 6, 7, 8]}))
    assert decoded.dtype == np.float32 and decoded.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_avro_record_of_the_wrong_size_or_bytes_is_refused() -> None:
    codec = sample_codec("AVRO", {"data_scheme": ARRAYS, "data_reshape": [2, 4]})
    with pytest.raises(SampleError, match=r"holds 6 numbers, its declared shape \(2, 4\) holds 8"):
        codec.decode_sample(_avro(ARRAYS, {"i": [1, 2, 3], "q": [5, 6, 7]}))
    with pytest.raises(SampleError, match="not a record of its Avro schema"):
        codec.decode_sample(b"\x07")
    with pytest.raises(SampleError, match=rf"at most {codec.max_value_bytes} bytes"):
        codec.decode_sample(b"\0" * (codec.max_value_bytes + 1))
    with pytest.raises(SampleError, match="no value"):
        codec.decode_sample(None)


def test_the_largest_valid_avro_record_is_within_the_bound() -> None:
    """The bound refuses only what cannot be a sample: the widest encoding still passes."""
    schema = {"type": "record", "name": "L", "fields": [{"name": "v", "type": {"type": "array", "items": "long"}}]}
    codec = sample_codec("AVRO", {"data_scheme": schema, "data_reshape": [16]})
    value = _avro(schema, {"v": [-(2**63)] * 16})
    assert len(value) <= codec.max_value_bytes
    assert codec.decode_sample(value).tolist() == [-(2**63)] * 16


@pytest.mark.parametrize(("input_format", "config", "message"), [
    ("CSV", {}, "input format must be one of RAW, AVRO, got 'CSV'"),
    ("RAW", [], "input config must be a JSON object, got list"),
    ("RAW", {"data_type": "float32"}, "data_reshape: is required"),
    ("RAW", {"data_reshape": [2]}, "data_type: is required"),
    ("RAW", {"data_type": "float32", "data_reshape": [2], "data_shape": [2]}, r"unknown keys \['data_shape'\]"),
    ("RAW", {"data_type": "complex64", "data_reshape": [2]}, "not a numeric dtype"),
    ("RAW", {"data_type": "U3", "data_reshape": [2]}, "not a numeric dtype"),
    ("RAW", {"data_type": "tensor", "data_reshape": [2]}, "'tensor' is not a numpy dtype"),
    ("RAW", {"data_type": "10000000000000i4", "data_reshape": [2]}, "is not a numpy dtype"),
    ("RAW", {"data_type": 4, "data_reshape": [2]}, "data_type: expected a dtype name"),
    ("RAW", {"data_type": "float32", "data_reshape": [2, 0]}, "dimensions must be positive"),
    ("RAW", {"data_type": "float32", "data_reshape": "2 -1"}, "dimensions must be positive"),
    ("RAW", {"data_type": "float32", "data_reshape": "2 x"}, "expected space-separated integers"),
    ("RAW", {"data_type": "float32", "data_reshape": [2.0]}, "expected a list of integers"),
    ("RAW", {"data_type": "float32", "data_reshape": [True]}, "expected a list of integers"),
    ("RAW", {"data_type": "float32", "data_reshape": ""}, "1 to 8 dimensions, got 0"),
    ("RAW", {"data_type": "float32", "data_reshape": [1] * 9}, "1 to 8 dimensions, got 9"),
    ("RAW", {"data_type": "float32", "data_reshape": [2048, 2049]}, f"is 16785408 bytes, at most {MAX_SAMPLE_BYTES}"),
    ("RAW", {"data_type": "uint8", "data_reshape": [10**40]}, "bytes, at most"),
    ("RAW", {"data_type": "float32", "data_reshape": [1], "label_type": "x" * MAX_INPUT_CONFIG_BYTES},
     f"at most {MAX_INPUT_CONFIG_BYTES}"),
    ("RAW", {"data_type": "float32", "data_reshape": [1], "label_type": {1, 2}}, "input config is not JSON"),
    ("AVRO", {}, "data_scheme: expected an Avro record schema"),
    ("AVRO", {"data_scheme": "{not json"}, "data_scheme: not valid JSON"),
    ("AVRO", {"data_scheme": {"type": "int"}}, "expected an Avro record schema with at least one field"),
    ("AVRO", {"data_scheme": {"type": "record", "name": "X", "fields": [{"name": "s", "type": "string"}]}},
     "must be a number or an array of numbers"),
    ("AVRO", {"data_scheme": {"type": "record", "fields": [{"name": "a", "type": "int"}]}},
     "Avro data_scheme is not a valid schema"),
    ("AVRO", {"data_scheme": ARRAYS}, "data_reshape: is required when the Avro record has array fields"),
    ("AVRO", {"data_scheme": SCALARS, "data_reshape": [2, 2]}, r"holds 4 numbers, the Avro record has 3 scalar"),
    ("AVRO", {"data_scheme": ARRAYS, "data_reshape": [4096, 4096]}, "bytes, at most"),
    ("AVRO", {"data_scheme": SCALARS, "data_type": "float32"}, r"unknown keys \['data_type'\]"),
])
def test_every_wrong_config_is_refused_with_its_reason(input_format, config, message) -> None:
    with pytest.raises(SampleError, match=message):
        sample_codec(input_format, config)


def test_the_size_bound_is_the_callers_to_lower() -> None:
    config = {"data_type": "float32", "data_reshape": [1024]}
    assert sample_codec("RAW", config, max_sample_bytes=4096).shape == (1024,)
    with pytest.raises(SampleError, match="is 4096 bytes, at most 4095"):
        sample_codec("RAW", config, max_sample_bytes=4095)
