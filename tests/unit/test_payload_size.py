"""The exact payload size a model fixes, and the canonical metadata of the header (no broker)."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.weights.codec import (
    WeightsFormatError,
    WeightSpec,
    deserialize_payload,
    payload_size,
    serialize_weights,
    update_metadata,
    weight_specs,
    weights_hash,
)

SHAPES = [
    [],
    [np.zeros((3, 4), np.float32)],
    [np.zeros((8, 16), np.float32), np.zeros(16, np.float32), np.zeros((16, 3), np.float32), np.zeros(3, np.float32)],
    [np.zeros((0, 4), np.float16), np.float32(0.5), np.arange(7, dtype=np.int64), np.zeros((2, 3, 5), np.uint8)],
    [np.zeros((1000, 1000), np.float64)],
]
METADATA = [None, {}, update_metadata("run-1", "client-1", 0),
            update_metadata("a-much-longer-training-name-" * 5, "0x" + "ab" * 20, 123456789),
            {"client": "platform", "note": "é ünïcode"}]


@pytest.mark.parametrize("weights", SHAPES)
@pytest.mark.parametrize("metadata", METADATA)
def test_payload_size_is_the_serialised_length(weights, metadata) -> None:
    assert payload_size(weight_specs(weights), metadata) == len(serialize_weights(weights, metadata))


def test_payload_size_takes_plain_shape_dtype_pairs() -> None:
    weights = SHAPES[2]
    pairs = [(w.shape, str(w.dtype)) for w in weights]
    assert payload_size(pairs) == len(serialize_weights(weights))


def test_metadata_is_canonical_and_read_back() -> None:
    weights = SHAPES[2]
    forward = {"training": "t", "client": "c", "base_version": "3"}
    backward = dict(reversed(list(forward.items())))
    assert serialize_weights(weights, forward) == serialize_weights(weights, backward)
    assert weights_hash(weights, forward) != weights_hash(weights, {**forward, "client": "d"})
    decoded = deserialize_payload(serialize_weights(weights, forward))
    assert decoded.metadata == {**forward, "format": "kafkaml-weights"}
    assert all(np.array_equal(a, b) for a, b in zip(decoded.weights, weights, strict=True))


def test_payloads_without_metadata_keep_their_bytes() -> None:
    """Payloads written before the metadata fields existed read back with only the format."""
    payload = serialize_weights(SHAPES[1])
    assert b'{"__metadata__":{"format":"kafkaml-weights"},"000000"' in payload
    assert deserialize_payload(payload).metadata == {"format": "kafkaml-weights"}


@pytest.mark.parametrize("metadata", [{"format": "x"}, {"client": 3}, {"client": "x" * 257}])
def test_bad_metadata_is_refused(metadata) -> None:
    with pytest.raises(WeightsFormatError):
        serialize_weights(SHAPES[1], metadata)


@pytest.mark.parametrize("shape, dtype", [((-1, 2), "float32"), ((2,), "complex64"), ((2.5,), "float32")])
def test_bad_specs_are_refused(shape, dtype) -> None:
    with pytest.raises(WeightsFormatError):
        WeightSpec.of(shape, dtype)
