"""Weight transport on a real broker: deterministic bytes, verified chunks, typed integrity errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
import tracemalloc

import keras
import numpy as np
import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from kafka import TopicPartition
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from kafkaml import kafka, topics
from kafkaml.pointers import WeightsPointer
from kafkaml.weights.codec import (
    WeightsFormatError,
    deserialize_weights,
    payload_size,
    serialize_weights,
    update_metadata,
    weight_specs,
    weights_hash,
)
from kafkaml.weights.transport import (
    CHUNK_BYTES,
    ChunkOrderError,
    ForeignChunkError,
    HashMismatchError,
    MissingChunkError,
    PayloadSizeError,
    TamperedChunkError,
    WeightsPublishError,
    fetch_decoded,
    fetch_payload,
    fetch_weights,
    publish_payload,
    publish_weights,
)
from tests.conftest import unique

SAMPLE_WEIGHTS_CODE = """
import numpy as np
rng = np.random.default_rng(42)
WEIGHTS = [rng.normal(size=(64, 32)).astype(np.float32), rng.normal(size=32).astype(np.float32),
           np.arange(7, dtype=np.int64), np.float32(0.25), np.zeros((0, 4), np.float16)]
"""


def sample_weights() -> list[np.ndarray]:
    scope: dict = {}
    exec(SAMPLE_WEIGHTS_CODE, scope)
    return scope["WEIGHTS"]


# --- serialisation (no broker) ----------------------------------------------------------------------


def test_serialisation_is_deterministic_across_processes() -> None:
    """The audit recomputes hashes in another process, maybe on another machine: bytes must match."""
    weights = sample_weights()
    assert serialize_weights(weights) == serialize_weights([w.copy() for w in weights])
    code = SAMPLE_WEIGHTS_CODE + "from kafkaml.weights.codec import weights_hash\nprint(weights_hash(WEIGHTS).hex())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == weights_hash(weights).hex()
    # Any change, even the order of two tensors or a single bit, changes the hash.
    assert weights_hash(weights[1::-1] + weights[2:]) != weights_hash(weights)
    flipped = [w.copy() for w in weights]
    flipped[0].view(np.uint32)[0, 0] ^= 1
    assert weights_hash(flipped) != weights_hash(weights)


def test_serialisation_is_standard_safetensors() -> None:
    weights = sample_weights()
    loaded = st_load(serialize_weights(weights))
    assert sorted(loaded) == [f"{i:06d}" for i in range(len(weights))]
    for index, weight in enumerate(weights):
        assert loaded[f"{index:06d}"].dtype == weight.dtype
        np.testing.assert_array_equal(loaded[f"{index:06d}"], np.asarray(weight).reshape(loaded[f"{index:06d}"].shape))
    back = deserialize_weights(st_save({f"{i:06d}": np.asarray(w) for i, w in enumerate(weights)}))
    for got, weight in zip(back, weights, strict=True):
        assert got.dtype == weight.dtype and got.shape == np.shape(weight)
        np.testing.assert_array_equal(got, weight)


@pytest.mark.parametrize(("payload", "problem"), [
    (b"\x01\x02", "shorter than a safetensors header"),
    ((10**9).to_bytes(8, "little") + b"{}", "exceeds the payload"),
    ((4).to_bytes(8, "little") + b"nope", "not JSON"),
    ((2).to_bytes(8, "little") + b"[]", "not a JSON object"),
    (serialize_weights([np.zeros(3, np.float32)])[:-1], "does not fit offsets"),
    (serialize_weights([np.zeros(3, np.float32)]) + b"\x00" * 4, "covers 12 of 16 bytes"),
    (st_save({"kernel": np.zeros(2, np.float32)}), "tensor names must be 000000"),
])
def test_malformed_payloads_are_refused(payload: bytes, problem: str) -> None:
    with pytest.raises(WeightsFormatError, match=problem):
        deserialize_weights(payload)


@settings(max_examples=60, deadline=None)
@given(st.lists(hnp.arrays(st.sampled_from(["float32", "float64", "float16", "int64", "int8", "uint16", "bool"]),
                           hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)), max_size=6))
def test_any_weight_list_round_trips_bit_for_bit(weights: list[np.ndarray]) -> None:
    payload = serialize_weights(weights)
    assert hashlib.sha256(payload).digest() == weights_hash(weights)
    back = deserialize_weights(payload)
    assert len(back) == len(weights)
    for got, weight in zip(back, weights, strict=True):
        assert got.dtype == weight.dtype and got.shape == weight.shape
        assert got.tobytes() == weight.tobytes()  # bit for bit, NaN payloads included
    assert serialize_weights(back) == payload


def test_unsupported_dtypes_are_refused() -> None:
    with pytest.raises(WeightsFormatError, match="weight 1 has dtype complex64"):
        serialize_weights([np.zeros(2, np.float32), np.zeros(2, np.complex64)])


# --- transport --------------------------------------------------------------------------------------


def test_keras_model_weights_round_trip(platform_bootstrap: str) -> None:
    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    pointer, digest = publish_weights(platform_bootstrap, unique("weights"), model.get_weights())
    assert digest == weights_hash(model.get_weights())
    fetched = fetch_weights(platform_bootstrap, pointer, digest)
    clone = keras.models.clone_model(model)
    clone.set_weights(fetched)
    probe = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(probe, verbose=0), model.predict(probe, verbose=0))


def test_hundred_megabytes_round_trip_within_three_payloads_of_memory(platform_bootstrap: str) -> None:
    weights = [np.random.default_rng(1).standard_normal(25_000_000, dtype=np.float32), np.ones(10, np.float32)]
    payload_bytes = sum(w.nbytes for w in weights)
    pointer, digest = publish_weights(platform_bootstrap, unique("weights-100mb"), weights)
    assert pointer.chunk_count == -(-(payload_bytes + 256) // CHUNK_BYTES)  # every chunk below the message limit
    tracemalloc.start()
    try:
        fetched = fetch_weights(platform_bootstrap, pointer, digest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 3 * payload_bytes, f"fetch peaked at {peak / payload_bytes:.2f}x the payload"
    np.testing.assert_array_equal(fetched[0], weights[0])


def test_sizes_other_than_the_models_are_refused_before_anything_is_allocated(platform_bootstrap: str) -> None:
    weights = [np.ones((8, 16), np.float32), np.ones(16, np.float32)]
    metadata = update_metadata("fl-size", "client-1", 0)
    expected = payload_size(weight_specs(weights), metadata)
    pointer, digest = publish_weights(platform_bootstrap, unique("sized"), weights, metadata=metadata)
    decoded = fetch_decoded(platform_bootstrap, pointer, digest, expected_size=expected)
    assert decoded.metadata["client"] == "client-1" and decoded.weights[0].shape == (8, 16)
    with pytest.raises(PayloadSizeError, match=f"announces {expected} bytes, a payload of this model is {expected + 8}"):
        fetch_payload(platform_bootstrap, pointer, digest, expected_size=expected + 8)

    # A pointer claiming 2**31 records is refused before a consumer exists (its topic does not).
    claimed = WeightsPointer(unique("nowhere"), 0, 0, 2**31)
    with pytest.raises(PayloadSizeError, match="covers 2147483648 chunks"):
        fetch_payload(platform_bootstrap, claimed, digest, expected_size=expected)

    # A chunk whose header claims 100 GB, at a pointer of the right length, is refused before its buffer.
    value = serialize_weights(weights, metadata)
    headers = [("kml-payload", digest), ("kml-crc32c", crc32c(value).to_bytes(4, "big")),
               ("kml-index", (0).to_bytes(4, "big")), ("kml-count", (1).to_bytes(4, "big")),
               ("kml-size", (100 * 2**30).to_bytes(8, "big"))]
    forged = _publish_records(platform_bootstrap, [(value, headers)], 1)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadSizeError, match="announces 107374182400 bytes"):
            fetch_payload(platform_bootstrap, forged, digest, expected_size=expected)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"the refusal allocated {peak} bytes"


# --- integrity: build bad chunk sequences from a genuine publication ---------------------------------


def _genuine_chunks(bootstrap: str, payload: bytes, chunk_bytes: int = 1000) -> tuple[list, bytes]:
    """Publish ``payload`` and read its records back as (value, headers) pairs."""
    topic = unique("genuine")
    topics.ensure_topic(bootstrap, topic)
    producer = kafka.producer(bootstrap)
    pointer, digest = publish_payload(producer, topic, payload, chunk_bytes=chunk_bytes)
    producer.close()
    tp = TopicPartition(topic, 0)
    consumer = kafka.assigned_consumer(bootstrap, [tp])
    consumer.seek(tp, pointer.start_offset)
    records: list = []
    deadline = time.monotonic() + 10
    while len(records) < pointer.chunk_count and time.monotonic() < deadline:
        records += consumer.poll(timeout_ms=200).get(tp, [])
    consumer.close()
    return [(r.value, list(r.headers)) for r in records[:pointer.chunk_count]], digest


def _publish_records(bootstrap: str, records: list, chunk_count: int) -> WeightsPointer:
    """Write records as they are and point at ``chunk_count`` of them, like a forged publication."""
    topic = unique("forged")
    topics.ensure_topic(bootstrap, topic)
    producer = kafka.producer(bootstrap)
    offsets = [producer.send(topic, value, headers=headers, partition=0).get(10).offset for value, headers in records]
    producer.close()
    return WeightsPointer(topic, 0, offsets[0], offsets[0] + chunk_count)


PAYLOAD = bytes(np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8))


def test_chunked_payload_round_trip(platform_bootstrap: str) -> None:
    chunks, digest = _genuine_chunks(platform_bootstrap, PAYLOAD)
    assert len(chunks) == 5 and digest == hashlib.sha256(PAYLOAD).digest()
    pointer = _publish_records(platform_bootstrap, chunks, 5)
    assert fetch_payload(platform_bootstrap, pointer, digest) == PAYLOAD


def _replace_header(headers: list, name: str, value: bytes) -> list:
    return [(key, value if key == name else old) for key, old in headers]


@pytest.mark.parametrize(("forge", "error", "problem"), [
    ("flip a byte", TamperedChunkError, "chunk 2 does not match its published checksum"),
    ("flip a byte and forge its checksum", HashMismatchError, "the payload's SHA-256 is"),
    ("drop chunk 1", MissingChunkError, "chunk 2 found where chunk 1 belongs"),
    ("swap chunks 1 and 2", MissingChunkError, "chunk 2 found where chunk 1 belongs"),
    ("duplicate chunk 0", ChunkOrderError, "chunk 0 found where chunk 1 belongs"),
    ("insert a chunk of another payload", ForeignChunkError, "belongs to payload"),
    ("insert a plain record", ForeignChunkError, "not a weights chunk"),
    ("drop the last chunk", MissingChunkError, r"no record at offset \d+ \(chunk 4 of 5\) although the broker answers"),
    ("point past the end", MissingChunkError, "the payload has 5 chunks but the pointer covers 6"),
    ("claim fewer chunks", MissingChunkError, "the payload has 5 chunks but the pointer covers 4"),
])
def test_bad_chunk_sequences_raise_typed_errors(platform_bootstrap: str, forge, error, problem) -> None:
    chunks, digest = _genuine_chunks(platform_bootstrap, PAYLOAD)
    count = len(chunks)
    if forge.startswith("flip"):
        value, headers = chunks[2]
        value = bytes([value[0] ^ 1]) + value[1:]
        if "forge" in forge:
            headers = _replace_header(headers, "kml-crc32c", crc32c(value).to_bytes(4, "big"))
        chunks[2] = (value, headers)
    elif forge == "drop chunk 1":
        chunks.pop(1)
        chunks.append((b"filler", []))
    elif forge == "swap chunks 1 and 2":
        chunks[1], chunks[2] = chunks[2], chunks[1]
    elif forge == "duplicate chunk 0":
        chunks.insert(1, chunks[0])
    elif forge == "insert a chunk of another payload":
        other, _ = _genuine_chunks(platform_bootstrap, PAYLOAD[::-1])
        chunks.insert(3, other[3])
    elif forge == "insert a plain record":
        chunks.insert(0, (b"hello", []))
    elif forge == "drop the last chunk":
        chunks.pop()
    elif forge == "point past the end":
        count += 1
    elif forge == "claim fewer chunks":
        count -= 1
    pointer = _publish_records(platform_bootstrap, chunks, count)
    with pytest.raises(error, match=problem):
        fetch_payload(platform_bootstrap, pointer, digest)


def test_a_wrong_expected_hash_is_refused(platform_bootstrap: str) -> None:
    chunks, _ = _genuine_chunks(platform_bootstrap, PAYLOAD)
    pointer = _publish_records(platform_bootstrap, chunks, len(chunks))
    with pytest.raises(ForeignChunkError):
        fetch_payload(platform_bootstrap, pointer, hashlib.sha256(b"something else").digest())
    with pytest.raises(ValueError, match="32 bytes"):
        fetch_payload(platform_bootstrap, pointer, b"short")


def test_publishing_nothing_is_refused(platform_bootstrap: str) -> None:
    producer = kafka.producer(platform_bootstrap)
    try:
        with pytest.raises(WeightsFormatError, match="empty payload"):
            publish_payload(producer, unique("empty"), b"")
    finally:
        producer.close()


def test_a_partition_shared_with_a_busy_writer_never_yields_a_broken_pointer(platform_bootstrap: str) -> None:
    """Chunks interleaved with other records cannot form a pointer: the payload is published
    again, and after the last attempt a clear error says what to change."""
    topic = unique("shared")
    topics.ensure_topic(platform_bootstrap, topic)
    stop = threading.Event()

    def busy_writer() -> None:
        producer = kafka.producer(platform_bootstrap, linger_ms=0)
        while not stop.is_set():
            producer.send(topic, b"noise", partition=0)
            time.sleep(0.0005)
        producer.close()

    writer = threading.Thread(target=busy_writer)
    writer.start()
    producer = kafka.producer(platform_bootstrap)
    try:
        time.sleep(0.3)
        with pytest.raises(WeightsPublishError, match="other writers interleaved with all 3 attempts"):
            publish_payload(producer, topic, PAYLOAD * 40, chunk_bytes=1000)  # 200 chunks
    finally:
        stop.set()
        writer.join()
    pointer, digest = publish_payload(producer, topic, PAYLOAD * 40, chunk_bytes=1000)
    producer.close()
    assert fetch_payload(platform_bootstrap, pointer, digest) == PAYLOAD * 40
