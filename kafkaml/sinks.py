"""Datasource sinks: how a data owner puts labelled samples into its Kafka and describes them.

A sink takes samples one by one (or in arrays), checks each against the datasource's shape and
dtype, assigns it to train, validation or test, and when closed writes the samples to the data
topic and publishes ONE data control message that says exactly where each split is.

Why it works this way:

* **All or nothing.** Samples are spooled to local temporary files until :meth:`close`; only then
  are they written to Kafka, followed by the control message. A sink that fails or is left by an
  exception (``with RawSink(...) as sink:``) publishes nothing, so no consumer ever sees a
  half-described datasource, and the spool never holds more than a block in memory.
* **Random, exact splits.** The earlier sinks split by position and never shuffled. Here each
  block of ``block_size`` samples is split at random (seeded), with the running counts kept at
  ``round(n * rate)``, so a split has exactly the announced number of samples and no ordering
  bias. Each split is then written as one contiguous offset range (several ranges only when
  other producers write to the same partition at the same time).
* **Known format.** Records use the earlier Kafka-ML layout (:mod:`kafkaml.codecs`), so the same
  topics can be read by both.
"""

from __future__ import annotations

import struct
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from kafkaml import kafka, topics
from kafkaml.codecs import AvroCodec, RawCodec, SampleError, avro_fields
from kafkaml.control_topics import publish_control
from kafkaml.messages.kinds import SPLITS, DataControl, compress_offsets
from kafkaml.topics import DATA_CONTROL_TOPIC

if TYPE_CHECKING:
    from kafkaml.workloads import Samples, Workload

_PENDING_LIMIT = 4096  # resolve send futures in windows so memory does not grow with the dataset


class SinkError(ValueError):
    """The sink was misused (bad rates, no samples, already closed); nothing was published."""


def check_rates(validation_rate: float, test_rate: float) -> tuple[float, float]:
    for name, rate in (("validation_rate", validation_rate), ("test_rate", test_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise SinkError(f"{name} must be a number in [0, 1), got {rate!r}")
    if validation_rate + test_rate >= 1:
        raise SinkError(f"validation_rate + test_rate must be below 1 (some samples must train), "
                        f"got {validation_rate} + {test_rate}")
    return float(validation_rate), float(test_rate)


class _Spool:
    """Encoded records of one split in a temporary file: (key length, value length, key, value)."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="kafkaml-sink-")  # noqa: SIM115 - closed by close()
        self.count = 0

    def write(self, key: bytes, value: bytes) -> None:
        self.file.write(struct.pack("<II", len(key), len(value)) + key + value)
        self.count += 1

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        self.file.seek(0)
        for _ in range(self.count):
            key_len, value_len = struct.unpack("<II", self.file.read(8))
            yield self.file.read(key_len), self.file.read(value_len)

    def close(self) -> None:
        self.file.close()


class DatasourceSink:
    """Common part of :class:`RawSink` and :class:`AvroSink`: splitting, spooling, publishing."""

    FORMAT = ""

    def __init__(self, bootstrap: str, topic: str, *, control_topic: str = DATA_CONTROL_TOPIC,
                 datasource_id: str | None = None, federated_string_id: str = "", description: str = "",
                 validation_rate: float = 0.0, test_rate: float = 0.0, classes: int | None = None,
                 dataset_restrictions: Mapping[str, Any] | None = None, incremental: bool = False,
                 partition: int = 0, seed: int | None = None, block_size: int = 1024) -> None:
        self.validation_rate, self.test_rate = check_rates(validation_rate, test_rate)
        if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 2):
            raise SinkError(f"classes must be an integer of at least 2, got {classes!r}")
        if block_size < 1:
            raise SinkError(f"block_size must be positive, got {block_size}")
        self.bootstrap, self.topic, self.control_topic = bootstrap, topic, control_topic
        self.partition = partition
        self.datasource_id = datasource_id or uuid.uuid4().hex
        self.federated_string_id, self.description = federated_string_id, description
        self.classes, self.incremental = classes, incremental
        self.dataset_restrictions = dict(dataset_restrictions or {})
        self.codec: RawCodec | AvroCodec | None = None
        self._rng = np.random.default_rng(seed)
        self._block_size = block_size
        self._block: list[tuple[bytes, bytes]] = []
        self._seen = 0
        self._spools = {split: _Spool() for split in SPLITS}
        self._closed = False
        for name in (topic, control_topic):
            topics.check_topic_name(name)
        try:
            topics.ensure_topic(bootstrap, topic, configs=topics.DATA_TOPIC_CONFIG)
            topics.ensure_topic(bootstrap, control_topic, configs=topics.CONTROL_TOPIC_CONFIG)
            self._producer = kafka.producer(bootstrap)
        except BaseException:
            self._release()
            raise

    # -- sending -------------------------------------------------------------------------------------

    def _add(self, value: bytes, key: bytes) -> None:
        if self._closed:
            raise SinkError("the sink is closed")
        if self.classes is not None and self.codec is not None:
            _, label = self.codec.decode(value, key)
            if np.issubdtype(label.dtype, np.integer) and (label.min() < 0 or label.max() >= self.classes):
                raise SampleError(f"label {label.tolist()} is outside [0, {self.classes})")
        self._block.append((key, value))
        if len(self._block) >= self._block_size:
            self._split_block()

    def _split_block(self) -> None:
        """Send this block's samples to the splits at random, keeping each count at round(n*rate)."""
        size = len(self._block)
        if not size:
            return
        self._seen += size
        validation = self._quota(self.validation_rate, "validation", size)
        test = min(self._quota(self.test_rate, "test", size), size - validation)
        order = self._rng.permutation(size)
        destination = ["train"] * size
        for position in order[:validation]:
            destination[position] = "validation"
        for position in order[validation:validation + test]:
            destination[position] = "test"
        for (key, value), split in zip(self._block, destination, strict=True):
            self._spools[split].write(key, value)
        self._block = []

    def _quota(self, rate: float, split: str, size: int) -> int:
        target = int(self._seen * rate + 0.5)
        return max(0, min(size, target - self._spools[split].count))

    # -- publishing ----------------------------------------------------------------------------------

    def close(self) -> DataControl:
        """Write every sample, then publish the data control message; returns what was published."""
        if self._closed:
            raise SinkError("the sink is already closed")
        try:
            self._split_block()
            counts = {split: spool.count for split, spool in self._spools.items()}
            if self.codec is None or not sum(counts.values()):
                raise SinkError("no samples were sent; nothing was published")
            if not counts["train"]:
                raise SinkError(f"all {sum(counts.values())} samples went to validation/test; send more samples")
            ranges = {split: compress_offsets(self.partition, list(self._write(spool)))
                      for split, spool in self._spools.items()}
            control = self._describe(ranges)
            publish_control(self._producer, self.control_topic, control, key=self.datasource_id.encode())
            return control
        finally:
            self._release()

    def abort(self) -> None:
        """Drop everything spooled; nothing is published."""
        self._release()

    def _write(self, spool: _Spool) -> Iterable[int]:
        pending = []
        for key, value in spool.records():
            pending.append(self._producer.send(self.topic, value, key=key, partition=self.partition))
            if len(pending) >= _PENDING_LIMIT:
                yield from (future.get(timeout=60).offset for future in pending)
                pending = []
        self._producer.flush()
        yield from (future.get(timeout=60).offset for future in pending)

    def _describe(self, ranges: dict[str, tuple]) -> DataControl:
        assert self.codec is not None
        extra = {}
        if isinstance(self.codec, AvroCodec):
            extra = {"avro_data_schema": self.data_schema, "avro_label_schema": self.label_schema}
        return DataControl(
            datasource_id=self.datasource_id, topic=self.topic, format=self.FORMAT,
            train=ranges["train"], validation=ranges["validation"], test=ranges["test"],
            input_shape=self.codec.input_shape, input_dtype=self.codec.input_dtype,
            label_shape=self.codec.label_shape, label_dtype=self.codec.label_dtype, classes=self.classes,
            federated_string_id=self.federated_string_id, description=self.description,
            validation_rate=self.validation_rate, test_rate=self.test_rate,
            dataset_restrictions=self.dataset_restrictions, incremental=self.incremental, **extra,
        )

    def _release(self) -> None:
        self._closed = True
        for spool in getattr(self, "_spools", {}).values():
            spool.close()
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.close()

    def __enter__(self) -> DatasourceSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class RawSink(DatasourceSink):
    """Numpy samples as raw bytes. Shape and dtype are declared, or taken from the first sample."""

    FORMAT = "RAW"

    def __init__(self, bootstrap: str, topic: str, *, input_shape: tuple[int, ...] | None = None,
                 input_dtype: str | None = None, label_shape: tuple[int, ...] | None = None,
                 label_dtype: str | None = None, **options: Any) -> None:
        self._declared = (input_shape, input_dtype, label_shape, label_dtype)
        super().__init__(bootstrap, topic, **options)

    def send(self, data: Any, label: Any) -> None:
        """Check and spool one sample; raises :class:`SampleError` (nothing spooled) if it does not fit."""
        codec = self.codec or self._codec_from(data, label)
        value, key = codec.encode(data, label)
        self.codec = codec  # declared by the first sample that encodes
        self._add(value, key)

    def send_many(self, data: Iterable[Any], labels: Iterable[Any]) -> None:
        for x, y in zip(data, labels, strict=True):
            self.send(x, y)

    def _codec_from(self, data: Any, label: Any) -> RawCodec:
        input_shape, input_dtype, label_shape, label_dtype = self._declared
        x, y = np.asarray(data), np.asarray(label)
        try:
            return RawCodec(tuple(x.shape if input_shape is None else input_shape), input_dtype or x.dtype.name,
                            tuple(y.shape if label_shape is None else label_shape), label_dtype or y.dtype.name)
        except TypeError as exc:
            raise SampleError(f"cannot declare a RAW datasource from this sample: {exc}") from None


class AvroSink(DatasourceSink):
    """Avro records (dicts) for sample and label, with both schemas carried in the control message.

    A record's fields (numbers or arrays of numbers) are flattened in schema order; the shape is
    declared or taken from the first record (a vector, or a scalar for a one-number label).
    """

    FORMAT = "AVRO"

    def __init__(self, bootstrap: str, topic: str, *, data_schema: Mapping[str, Any],
                 label_schema: Mapping[str, Any], input_shape: tuple[int, ...] | None = None,
                 input_dtype: str = "float32", label_shape: tuple[int, ...] | None = None,
                 label_dtype: str = "int64", **options: Any) -> None:
        self.data_schema, self.label_schema = dict(data_schema), dict(label_schema)
        self._declared = (input_shape, input_dtype, label_shape, label_dtype)
        for name, schema in (("data_schema", self.data_schema), ("label_schema", self.label_schema)):
            avro_fields(schema, lambda problem, name=name: SinkError(f"Avro {name} {problem}"))
        super().__init__(bootstrap, topic, **options)

    def send(self, data: Mapping[str, Any], label: Mapping[str, Any]) -> None:
        codec = self.codec or self._codec_from(data, label)
        value, key = codec.encode(data, label)
        self.codec = codec  # declared by the first sample that encodes
        self._add(value, key)

    def send_many(self, data: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]]) -> None:
        for x, y in zip(data, labels, strict=True):
            self.send(x, y)

    def _codec_from(self, data: Mapping[str, Any], label: Mapping[str, Any]) -> AvroCodec:
        input_shape, input_dtype, label_shape, label_dtype = self._declared
        if input_shape is None:
            input_shape = (self._flat_size(self.data_schema, data, "sample"),)
        if label_shape is None:
            size = self._flat_size(self.label_schema, label, "label")
            label_shape = () if size == 1 else (size,)
        return AvroCodec(self.data_schema, self.label_schema, input_shape, input_dtype, label_shape, label_dtype)

    @staticmethod
    def _flat_size(schema: Mapping[str, Any], record: Any, what: str) -> int:
        if not isinstance(record, Mapping):
            raise SampleError(f"{what} must be a dict matching the Avro schema, got {type(record).__name__}")
        try:
            return sum(int(np.size(record[field["name"]])) for field in schema["fields"])
        except KeyError as exc:
            raise SampleError(f"{what} lacks field {exc.args[0]!r} of its Avro schema") from None


#: Share of the workload's validation samples the aggregator scores on (a datasource needs some
#: training samples, so not all of them).
PLATFORM_VALIDATION_RATE = 0.95


def publish_datasource(bootstrap: str, topic: str, datasource_id: str, samples: Samples, classes: int,
                       validation_rate: float = 0.0, test_rate: float = 0.0,
                       control_topic: str = DATA_CONTROL_TOPIC) -> None:
    with RawSink(bootstrap, topic, datasource_id=datasource_id, classes=classes, validation_rate=validation_rate,
                 test_rate=test_rate, seed=0, control_topic=control_topic) as sink:
        sink.send_many(samples.x, samples.y.astype("int64"))


def publish_training_data(workload: Workload, name: str, clients: list[str], platform: str) -> None:
    """A training's data as users publish it: the share of ``client-N`` into the N-th of ``clients``
    (each owner's own broker), the validation data into the platform's broker ``platform``. Here,
    not in the local stack, so that a container on a deployment's network can publish it too."""
    for index, (bootstrap, share) in enumerate(zip(clients, workload.clients, strict=True), start=1):
        publish_datasource(bootstrap, f"kml-data-{name}", f"{name}-client-{index}", share, workload.classes)
    publish_datasource(platform, f"kml-validation-{name}", f"{name}-validation", workload.validation,
                       workload.classes, validation_rate=PLATFORM_VALIDATION_RATE)
