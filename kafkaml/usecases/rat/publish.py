"""Putting RAT datasets into Kafka through the datasource sinks, with each sample's SNR kept.

Samples go through :class:`kafkaml.sinks.RawSink` (value: the (2, M, 1) float32 features, key:
the int64 label), so any trainer reads them like every other datasource. The SNR of each
sample cannot ride in the record without changing that layout, so it travels beside it: the
*SNR side table*, records on :data:`SNR_TOPIC` keyed by the datasource id, each holding pairs
(64-bit BLAKE2b fingerprint of the sample's value bytes, SNR in dB). Matching by content rather
than by position keeps the table right whatever order or split the sink gives the samples.

All or nothing: inputs are checked and the dataset generated before anything is sent; the sink
spools locally and publishes its data control message last, so on any error no datasource is
announced. The side table is written just before that control message: a failure in between can
leave side-table records for a datasource id that was never announced, which readers never look
up.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from kafka import TopicPartition

from kafkaml import kafka, topics
from kafkaml.messages.kinds import DataControl
from kafkaml.sinks import RawSink
from kafkaml.usecases.rat.generator import CLASSES
from kafkaml.usecases.rat.preprocess import RatDataset

SNR_TOPIC = "kafkaml-rat-snr"
_ENTRY = np.dtype([("fingerprint", "<u8"), ("snr_db", "<f4")])
_ENTRIES_PER_RECORD = (kafka.MAX_MESSAGE_BYTES - 4096) // _ENTRY.itemsize


def fingerprint(sample: np.ndarray) -> int:
    """The 64-bit fingerprint of a sample's RAW value bytes (little-endian float32, C order)."""
    raw = np.ascontiguousarray(sample, dtype="<f4").tobytes()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


def publish(bootstrap: str, data: RatDataset, *, topic: str, datasource_id: str, federated_string_id: str = "rat",
            description: str = "", validation_rate: float = 0.0, test_rate: float = 0.0,
            seed: int | None = None) -> DataControl:
    """Send ``data`` as one RAW datasource and its SNR side table; returns the published control."""
    if len(data) == 0:
        raise ValueError("the dataset is empty; nothing was published")
    topics.check_topic_name(topic)
    table = np.zeros(len(data), _ENTRY)
    table["fingerprint"] = [fingerprint(x) for x in data.x]
    table["snr_db"] = data.snr_db
    sink = RawSink(bootstrap, topic, input_shape=tuple(data.x.shape[1:]), input_dtype="float32",
                   label_shape=(), label_dtype="int64", classes=len(CLASSES), datasource_id=datasource_id,
                   federated_string_id=federated_string_id, description=description,
                   validation_rate=validation_rate, test_rate=test_rate, seed=seed)
    try:
        for x, y in zip(data.x, data.y, strict=True):
            sink.send(x, np.int64(y))
        _write_snr_table(bootstrap, datasource_id, table)
    except BaseException:
        sink.abort()
        raise
    return sink.close()


def _write_snr_table(bootstrap: str, datasource_id: str, table: np.ndarray) -> None:
    topics.ensure_topic(bootstrap, SNR_TOPIC, configs=topics.DATA_TOPIC_CONFIG)
    producer = kafka.producer(bootstrap)
    try:
        for start in range(0, table.size, _ENTRIES_PER_RECORD):
            chunk = table[start:start + _ENTRIES_PER_RECORD]
            producer.send(SNR_TOPIC, chunk.tobytes(), key=datasource_id.encode(), partition=0).get(timeout=60)
    finally:
        producer.close()


def read_snr_table(bootstrap: str, datasource_id: str, *, timeout_s: float = 30.0) -> dict[int, float]:
    """Fingerprint → SNR (dB) of a datasource's samples, read from the side table."""
    partition = TopicPartition(SNR_TOPIC, 0)
    consumer = kafka.assigned_consumer(bootstrap, [partition])
    key = datasource_id.encode()
    table: dict[int, float] = {}
    try:
        consumer.seek_to_end(partition)
        end = consumer.position(partition)
        consumer.seek_to_beginning(partition)
        deadline = time.monotonic() + timeout_s
        while consumer.position(partition) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {SNR_TOPIC} on {bootstrap} took longer than {timeout_s} s")
            for record in consumer.poll(timeout_ms=1000).get(partition, []):
                if record.key == key and len(record.value) % _ENTRY.itemsize == 0:
                    entries = np.frombuffer(record.value, _ENTRY)
                    table.update(zip(entries["fingerprint"].tolist(), entries["snr_db"].tolist(), strict=True))
    finally:
        consumer.close()
    if not table:
        raise LookupError(f"no SNR side table for datasource {datasource_id!r} on {bootstrap}")
    return table


def snr_of(samples: np.ndarray, table: dict[int, float]) -> np.ndarray:
    """SNR of each sample (as read back from Kafka), NaN for samples the table does not know."""
    return np.array([table.get(fingerprint(x), np.nan) for x in samples], np.float32)
