"""Weights through Kafka: payloads (:mod:`kafkaml.weights.codec`) chunked, content-addressed, verified.

Why each choice:

* **Chunks.** The payload is cut into records below :data:`kafkaml.kafka.MAX_MESSAGE_BYTES`, all
  on one partition, contiguous. Each record's headers carry the chunk index, the chunk count,
  the payload size, the payload's SHA-256 and the chunk's CRC32C, so a reader tells a
  missing, reordered, foreign or tampered chunk apart and says which. The per-chunk check is a
  CRC32C (hardware, ~13 GB/s): it pins accidental damage to a chunk; deliberate tampering, which
  could forge a CRC, is caught by the SHA-256 of the whole payload. (A per-chunk SHA-256 cost two
  extra passes over the payload, ~20% of the transport time, and added no security.)
* **Bounded sizes.** A model's weight shapes and dtypes plus the metadata fix a payload's size
  exactly (:func:`~kafkaml.weights.codec.payload_size`); a fetch given that size refuses a pointer with another chunk
  count or a first chunk announcing another size before it allocates anything, so a hostile
  pointer or header cannot make the reader allocate (or wait for) gigabytes.
* **Pointer.** Publishing returns a :class:`~kafkaml.pointers.WeightsPointer` (topic, partition,
  ``[start, end)``) and the payload hash: what the chain records. If other writers interleaved
  on the partition the chunks are not contiguous, so the payload is published again after a
  random pause. Publishers that often write at the same time (clients sending updates) should
  each have their own partition or topic: a payload of several chunks cannot be appended
  atomically (a record batch is limited to the message size).
* **Memory.** Fetching copies each chunk once into a pre-sized buffer and rebuilds the arrays as
  views of it, so a fetch needs about one payload of memory plus the consumer's fetch buffers.
"""

from __future__ import annotations

import hashlib
import random
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from crc32c import crc32c
from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from kafkaml import kafka, topics
from kafkaml.pointers import WeightsPointer, check_hash
from kafkaml.weights.codec import (
    Decoded,
    WeightsError,
    WeightsFormatError,
    deserialize_payload,
    payload_parts,
)

#: Payload bytes per record: below the message limit with room for headers and the batch envelope.
CHUNK_BYTES = kafka.MAX_MESSAGE_BYTES - 4096
PUBLISH_ATTEMPTS = 3
#: Seconds without a record where a chunk should be, with the broker answering, before the chunk
#: is declared missing (a live broker answers a fetch at once when it has the record).
END_GRACE_S = 3.0

H_PAYLOAD, H_CRC, H_INDEX, H_COUNT, H_SIZE = "kml-payload", "kml-crc32c", "kml-index", "kml-count", "kml-size"


class WeightsPublishError(WeightsError):
    """The payload could not be published as one contiguous run of chunks."""


class WeightsIntegrityError(WeightsError):
    """What was fetched is not the payload the pointer and hash promise."""


class PayloadSizeError(WeightsIntegrityError):
    """The pointer's chunk count or the announced payload size is not the size the model fixes."""


class MissingChunkError(WeightsIntegrityError):
    """A chunk of the payload is not at the pointer (never written, deleted, or cut off)."""


class WeightsFetchTimeout(MissingChunkError, TimeoutError):
    """The broker stopped delivering before every chunk arrived."""


class ChunkOrderError(WeightsIntegrityError):
    """A chunk is at the wrong position (reordered or duplicated)."""


class ForeignChunkError(WeightsIntegrityError):
    """A record in the pointer's range belongs to another payload or is not a chunk at all."""


class TamperedChunkError(WeightsIntegrityError):
    """A chunk's bytes do not match the checksum it was published with."""


class HashMismatchError(WeightsIntegrityError):
    """The reassembled payload's SHA-256 differs from the expected content hash."""


def _chunks(parts: Sequence[memoryview], chunk_bytes: int) -> Iterator[memoryview | bytes]:
    """Consecutive ``chunk_bytes`` pieces of the concatenated parts; only chunks that straddle
    two parts are copied."""
    pending: list[memoryview] = []
    size = 0
    for part in parts:
        position = 0
        while position < len(part):
            take = min(chunk_bytes - size, len(part) - position)
            pending.append(part[position:position + take])
            size += take
            position += take
            if size == chunk_bytes:
                yield pending[0] if len(pending) == 1 else b"".join(pending)
                pending, size = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else b"".join(pending)


# --- publishing ------------------------------------------------------------------------------------


def publish_payload(producer: KafkaProducer, topic: str, payload: bytes | Sequence[memoryview], *,
                    partition: int = 0, chunk_bytes: int = CHUNK_BYTES,
                    timeout_s: float = 120.0) -> tuple[WeightsPointer, bytes]:
    """Publish ``payload`` (bytes, or consecutive buffers) as contiguous chunks on one partition.

    Returns the pointer and the payload's SHA-256.
    """
    parts = [memoryview(payload)] if isinstance(payload, bytes | bytearray | memoryview) else list(payload)
    size = sum(len(part) for part in parts)
    if not size:
        raise WeightsFormatError("cannot publish an empty payload")
    if not 0 < chunk_bytes <= CHUNK_BYTES:
        raise WeightsFormatError(f"chunk_bytes must be in (0, {CHUNK_BYTES}], got {chunk_bytes}")
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    digest = hasher.digest()
    count = -(-size // chunk_bytes)
    for attempt in range(PUBLISH_ATTEMPTS):
        futures = []
        for index, chunk in enumerate(_chunks(parts, chunk_bytes)):
            headers = [
                (H_PAYLOAD, digest), (H_CRC, struct.pack(">I", crc32c(chunk))),
                (H_INDEX, struct.pack(">I", index)), (H_COUNT, struct.pack(">I", count)),
                (H_SIZE, struct.pack(">Q", size)),
            ]
            futures.append(producer.send(topic, chunk, partition=partition, headers=headers))
        producer.flush(timeout=timeout_s)
        offsets = [future.get(timeout=timeout_s).offset for future in futures]
        if offsets == list(range(offsets[0], offsets[0] + count)):
            return WeightsPointer(topic, partition, offsets[0], offsets[0] + count), digest
        # Two publishers that collided once would collide again if they retried in step.
        time.sleep(random.uniform(0.05, 0.5) * (attempt + 1))
    raise WeightsPublishError(
        f"{topic}[{partition}]: other writers interleaved with all {PUBLISH_ATTEMPTS} attempts; "
        "give each publisher its own weights topic or partition"
    )


def publish_weights(producer_or_bootstrap: KafkaProducer | str, topic: str, weights: Sequence[np.ndarray], *,
                    partition: int = 0, metadata: Mapping[str, str] | None = None) -> tuple[WeightsPointer, bytes]:
    """Serialise and publish ``weights`` with ``metadata`` (see :func:`update_metadata`); returns
    ``(pointer, sha256)`` for the chain.

    Given a bootstrap address, the topic is created (one partition, kept for ever) if missing and
    a producer is opened for this call; given a producer, the caller owns both.
    """
    payload = payload_parts(weights, metadata)
    if isinstance(producer_or_bootstrap, str):
        topics.ensure_topic(producer_or_bootstrap, topic, configs=topics.WEIGHTS_TOPIC_CONFIG)
        producer = kafka.producer(producer_or_bootstrap)
        try:
            return publish_payload(producer, topic, payload, partition=partition)
        finally:
            producer.close()
    return publish_payload(producer_or_bootstrap, topic, payload, partition=partition)


# --- fetching --------------------------------------------------------------------------------------


def fetch_payload(bootstrap: str, pointer: WeightsPointer, expected_hash: bytes, *,
                  timeout_s: float = 60.0, expected_size: int | None = None) -> bytearray:
    """Read and verify the chunks at ``pointer``; returns the payload whose SHA-256 is ``expected_hash``.

    With ``expected_size`` (the exact size the model fixes, :func:`payload_size`, published in
    chunks of :data:`CHUNK_BYTES`), a pointer covering another number of chunks is refused before
    anything is read, and a first chunk announcing another size before the buffer is allocated
    (:class:`PayloadSizeError`).

    ``timeout_s`` bounds the wait for the next chunk while the broker does not answer
    (:class:`WeightsFetchTimeout`). When the broker answers but has no record where the next
    chunk should be for :data:`END_GRACE_S`, the chunk is missing (:class:`MissingChunkError`).
    The partition's reported end offset is not used for that: Tansu reports the base offset + 1
    of the last record batch, i.e. too little whenever that batch holds several records.
    """
    expected_hash = check_hash(expected_hash)
    if expected_size is not None and pointer.chunk_count != -(-expected_size // CHUNK_BYTES):
        raise PayloadSizeError(f"{pointer}: covers {pointer.chunk_count} chunks, but a payload of this model is "
                               f"{expected_size} bytes ({-(-expected_size // CHUNK_BYTES)} chunks)")
    tp = TopicPartition(pointer.topic, pointer.partition)
    assembler = _Assembler(pointer, expected_hash, expected_size)
    consumer = kafka.assigned_consumer(bootstrap, [tp], fetch_max_bytes=16 * kafka.MAX_MESSAGE_BYTES)
    try:
        consumer.seek(tp, pointer.start_offset)
        last_progress = time.monotonic()
        while not assembler.done:
            records = consumer.poll(timeout_ms=200).get(tp, [])
            for record in records:
                if record.offset < pointer.start_offset:
                    continue
                if record.offset >= pointer.end_offset:
                    break
                assembler.add(record.offset - pointer.start_offset, record.value, dict(record.headers or []))
            idle = time.monotonic() - last_progress
            if records:
                last_progress = time.monotonic()
            elif consumer.position(tp) >= pointer.end_offset:
                raise MissingChunkError(f"{pointer}: offsets {assembler.received}.. hold no records")
            elif idle > END_GRACE_S and _broker_answers(consumer, tp):
                raise MissingChunkError(
                    f"{pointer}: the partition holds no record at offset {consumer.position(tp)} "
                    f"(chunk {assembler.received} of {pointer.chunk_count}) although the broker answers"
                )
            elif idle > timeout_s:
                raise WeightsFetchTimeout(
                    f"{pointer}: no chunk arrived for {timeout_s:.0f} s after {assembler.received} of "
                    f"{pointer.chunk_count} (is the broker at {bootstrap} down?)"
                )
        return assembler.finish()
    finally:
        assembler.close()
        consumer.close()


def _broker_answers(consumer: Any, tp: TopicPartition) -> bool:
    try:
        consumer.end_offsets([tp])
    except KafkaError:
        return False
    return True


def fetch_weights(bootstrap: str, pointer: WeightsPointer, expected_hash: bytes, *,
                  timeout_s: float = 60.0, expected_size: int | None = None) -> list[np.ndarray]:
    """Fetch, verify and rebuild the weights recorded as ``(pointer, expected_hash)``."""
    return fetch_decoded(bootstrap, pointer, expected_hash, timeout_s=timeout_s, expected_size=expected_size).weights


def fetch_decoded(bootstrap: str, pointer: WeightsPointer, expected_hash: bytes, *,
                  timeout_s: float = 60.0, expected_size: int | None = None) -> Decoded:
    """:func:`fetch_weights` with the payload's metadata (who published it, from which version)."""
    return deserialize_payload(fetch_payload(bootstrap, pointer, expected_hash, timeout_s=timeout_s,
                                             expected_size=expected_size))


class _Assembler:
    """Checks each chunk against the pointer and the expected hash while copying it into place.

    The SHA-256 of the payload is computed on a worker thread (hashlib releases the GIL), so it
    overlaps with the consumer fetching the next chunks instead of adding to the transfer time.
    """

    def __init__(self, pointer: WeightsPointer, expected_hash: bytes, expected_size: int | None = None) -> None:
        self.pointer, self.expected, self.expected_size = pointer, expected_hash, expected_size
        self.received = 0
        self.buffer: bytearray | None = None
        self.position = 0
        self.digest = hashlib.sha256()
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaml-weights-sha256")

    @property
    def done(self) -> bool:
        return self.received == self.pointer.chunk_count

    def add(self, position: int, value: bytes, headers: dict[str, bytes]) -> None:
        where = f"{self.pointer.topic}[{self.pointer.partition}]@{self.pointer.start_offset + position}"
        if position != self.received:  # the consumer delivers in order; a gap means a hole in the log
            raise MissingChunkError(f"{where}: offsets before it hold no record (chunk {self.received} missing)")
        try:
            payload_digest = headers[H_PAYLOAD]
            (chunk_crc,) = struct.unpack(">I", headers[H_CRC])
            (index,) = struct.unpack(">I", headers[H_INDEX])
            (count,) = struct.unpack(">I", headers[H_COUNT])
            (size,) = struct.unpack(">Q", headers[H_SIZE])
        except (KeyError, struct.error):
            raise ForeignChunkError(f"{where}: the record is not a weights chunk (headers missing)") from None
        if payload_digest != self.expected:
            raise ForeignChunkError(f"{where}: the chunk belongs to payload {payload_digest.hex()[:16]}…, "
                                    f"not {self.expected.hex()[:16]}…")
        if count != self.pointer.chunk_count:
            raise MissingChunkError(f"{where}: the payload has {count} chunks but the pointer covers "
                                    f"{self.pointer.chunk_count}")
        if index != position:
            error = MissingChunkError if index > position else ChunkOrderError
            raise error(f"{where}: chunk {index} found where chunk {position} belongs")
        if crc32c(value) != chunk_crc:
            raise TamperedChunkError(f"{where}: chunk {index} does not match its published checksum")
        if self.buffer is None:
            if self.expected_size is not None and size != self.expected_size:
                raise PayloadSizeError(f"{where}: the payload announces {size} bytes, a payload of this model is "
                                       f"{self.expected_size}")
            if size > count * CHUNK_BYTES:
                raise ForeignChunkError(f"{where}: a payload of {size} bytes cannot be {count} chunks")
            self.buffer = bytearray(size)
        if self.position + len(value) > len(self.buffer):
            raise TamperedChunkError(f"{where}: the chunks are longer than the published payload size")
        self.buffer[self.position:self.position + len(value)] = value
        self.position += len(value)
        self._hashing.submit(self.digest.update, value)  # one worker: updates stay in order
        self.received += 1

    def finish(self) -> bytearray:
        assert self.buffer is not None  # done implies at least one chunk was added
        if self.position != len(self.buffer):
            raise MissingChunkError(f"{self.pointer}: the chunks hold {self.position} of {len(self.buffer)} bytes")
        self._hashing.shutdown(wait=True)
        if self.digest.digest() != self.expected:
            raise HashMismatchError(f"{self.pointer}: the payload's SHA-256 is {self.digest.hexdigest()}, "
                                    f"expected {self.expected.hex()}")
        return self.buffer

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)
