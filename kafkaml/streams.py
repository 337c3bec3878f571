"""Training input straight from Kafka: a ``tf.data.Dataset`` over one split of a datasource.

The earlier Kafka-ML read streams with tensorflow-io's KafkaDataset, which no longer tracks
TensorFlow releases. Here a plain Python generator reads the split with kafka-python and
``tf.data`` only batches-to-tensors and prefetches, so any TensorFlow version works. Choices:

* **Exact ranges.** The split's offset ranges from the data control message are read with an
  explicit partition assignment and seek (no consumer group, no committed offsets), so the same
  split always yields the same samples, however busy the topic is, and a read is repeatable.
* **Streaming.** Samples are decoded record by record into batches; memory holds a couple of
  fetches (:data:`FETCH_BYTES` each), the shuffle buffer and the prefetched batches, never the
  dataset. Every epoch reads
  Kafka again, so datasets larger than memory train fine.
* **Bounded shuffle.** A reservoir of ``shuffle_buffer`` samples (seeded, a new order each
  iteration) mixes samples without loading everything.
* **No hanging.** If no record arrives for ``read_timeout_s`` while the split is not finished
  (broker down, records deleted), :class:`StreamTimeout` is raised instead of waiting for ever.
  A split that ends with fewer or more samples than described raises :class:`StreamDataError`.
* **Unbounded mode** (incremental training) keeps following the partition after the described
  ranges and ends only after ``idle_timeout_s`` without new records (or never, if None).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from kafka import TopicPartition

from kafkaml import kafka
from kafkaml.codecs import SampleError, codec_for
from kafkaml.messages.kinds import DataControl, OffsetRange

_POLL_MS = 200
#: Bytes per fetch: what bounds the reader's memory (about two fetches in flight), whatever the
#: dataset's size. Training consumes a few MB/s, far below what fetches of this size deliver.
FETCH_BYTES = kafka.MAX_MESSAGE_BYTES


class StreamError(RuntimeError):
    """A split cannot be read as described."""


class StreamTimeout(StreamError, TimeoutError):
    """No record arrived for the read timeout while the split was unfinished."""


class StreamDataError(StreamError):
    """The split's records do not match the description (undecodable, or a wrong count)."""


def iterate_samples(control: DataControl, split: str, bootstrap: str, *, read_timeout_s: float = 30.0,
                    unbounded: bool = False, idle_timeout_s: float | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Decoded (sample, label) pairs of ``split``, in offset order."""
    ranges = control.ranges(split)
    if not ranges and not unbounded:
        return
    codec = codec_for(control)
    consumer = kafka.assigned_consumer(bootstrap, max_partition_fetch_bytes=FETCH_BYTES, fetch_max_bytes=FETCH_BYTES)
    try:
        yielded = 0
        for offset_range in ranges:
            for record in read_range(consumer, control.topic, offset_range, read_timeout_s):
                yield _decode(codec, record, control.topic)
                yielded += 1
        if not unbounded:
            if yielded != control.count(split):
                raise StreamDataError(f"{control.topic}: the {split} split yielded {yielded} samples, "
                                      f"the datasource describes {control.count(split)}")
            return
        follow = OffsetRange(ranges[-1].partition, ranges[-1].end, 2**62) if ranges else OffsetRange(0, 0, 2**62)
        for record in read_range(consumer, control.topic, follow, idle_timeout_s, idle_ends=True):
            yield _decode(codec, record, control.topic)
    finally:
        consumer.close()


def _decode(codec, record, topic: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return codec.decode(record.value, record.key)
    except SampleError as exc:
        raise StreamDataError(f"{topic}[{record.partition}]@{record.offset}: {exc}") from None


def read_range(consumer, topic: str, offset_range: OffsetRange, timeout_s: float | None,
                idle_ends: bool = False) -> Iterator:
    """Records of ``[start, end)``; after ``timeout_s`` without one: StreamTimeout, or the end if ``idle_ends``."""
    tp = TopicPartition(topic, offset_range.partition)
    consumer.assign([tp])
    consumer.seek(tp, offset_range.start)
    last_progress = time.monotonic()
    while True:
        records = consumer.poll(timeout_ms=_POLL_MS).get(tp, [])
        for record in records:
            if record.offset >= offset_range.end:
                return
            if record.offset >= offset_range.start:
                yield record
        if records:
            last_progress = time.monotonic()
            if records[-1].offset >= offset_range.end - 1:
                return
        elif consumer.position(tp) >= offset_range.end:
            return
        elif timeout_s is not None and time.monotonic() - last_progress > timeout_s:
            if idle_ends:
                return
            raise StreamTimeout(
                f"{topic}[{offset_range.partition}]: no record for {timeout_s:.0f} s at offset "
                f"{consumer.position(tp)} of [{offset_range.start}, {offset_range.end}) — is the broker down?"
            )


def iterate_batches(control: DataControl, split: str, bootstrap: str, *, batch_size: int = 32,
                    shuffle_buffer: int = 0, seed: int | None = None, drop_remainder: bool = False,
                    **read_options) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of ``split`` as numpy arrays, mixed through a bounded shuffle buffer if asked."""
    if batch_size < 1 or shuffle_buffer < 0:
        raise ValueError(f"batch_size must be positive and shuffle_buffer non-negative, got {batch_size}, {shuffle_buffer}")
    x_dtype = np.dtype(control.input_dtype)
    y_dtype = np.dtype(control.label_dtype)
    samples = iterate_samples(control, split, bootstrap, **read_options)
    if shuffle_buffer:
        samples = _shuffled(samples, shuffle_buffer, np.random.default_rng(seed))
    while True:
        chunk = list(itertools.islice(samples, batch_size))
        if not chunk or (drop_remainder and len(chunk) < batch_size):
            return
        x = np.empty((len(chunk), *control.input_shape), x_dtype)
        y = np.empty((len(chunk), *control.label_shape), y_dtype)
        for index, (sample, label) in enumerate(chunk):
            x[index] = sample
            y[index] = label
        yield x, y


def _shuffled(samples: Iterator, capacity: int, rng: np.random.Generator) -> Iterator:
    """Reservoir shuffle: each new sample replaces (and releases) a random one of the buffer."""
    buffer = list(itertools.islice(samples, capacity))
    for sample in samples:
        slot = int(rng.integers(len(buffer)))
        yield buffer[slot]
        buffer[slot] = sample
    for slot in rng.permutation(len(buffer)):
        yield buffer[slot]


def split_dataset(control: DataControl, split: str, bootstrap: str, *, batch_size: int = 32,
                  shuffle_buffer: int = 0, seed: int | None = None, drop_remainder: bool = False,
                  prefetch: int = 2, read_timeout_s: float = 30.0, unbounded: bool = False,
                  idle_timeout_s: float | None = None) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data.Dataset`` of ``split`` (``train``, ``validation`` or ``test``).

    Every iteration (every Keras epoch) reads the split again from Kafka; with ``shuffle_buffer``
    each iteration uses a new order derived from ``seed``. Bounded datasets know their number
    of batches, so Keras shows real progress.
    """
    control.ranges(split)  # validates the split name before any reading starts
    iteration = itertools.count()

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        run_seed = None if seed is None else seed + next(iteration)
        yield from iterate_batches(control, split, bootstrap, batch_size=batch_size, shuffle_buffer=shuffle_buffer,
                                   seed=run_seed, drop_remainder=drop_remainder, read_timeout_s=read_timeout_s,
                                   unbounded=unbounded, idle_timeout_s=idle_timeout_s)

    signature = (
        tf.TensorSpec((None, *control.input_shape), tf.as_dtype(control.input_dtype)),
        tf.TensorSpec((None, *control.label_shape), tf.as_dtype(control.label_dtype)),
    )
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    if not unbounded:
        count = control.count(split)
        batches = count // batch_size if drop_remainder else -(-count // batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.prefetch(prefetch)
