"""Datasource sinks and stream input on real Tansu brokers: exact splits, repeatable reads,
busy topics, the earlier format, malformed control messages, bad input and a broker that stops."""

from __future__ import annotations

import json
import logging
import threading
import time
import tracemalloc
from pathlib import Path

import keras
import numpy as np
import pytest
from kafka import TopicPartition

from kafkaml import kafka, processes, topics
from kafkaml.codecs import SampleError
from kafkaml.control_topics import publish_control, read_control
from kafkaml.local import stack as local
from kafkaml.messages.kinds import SPLITS, DataControl, MetricsMessage, OffsetRange, compress_offsets
from kafkaml.sinks import AvroSink, RawSink, SinkError
from kafkaml.streams import StreamDataError, StreamTimeout, iterate_batches, iterate_samples, split_dataset
from tests.conftest import unique

SHAPE = (2, 16, 1)


def make_data(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Samples whose first value is their index, so every sample can be identified after a trip."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, *SHAPE)).astype(np.float32)
    x[:, 0, 0, 0] = np.arange(count)
    return x, (np.arange(count) % 3).astype(np.int64)


def published_controls(bootstrap: str, control_topic: str) -> list[DataControl]:
    return [r.message for r in read_control(bootstrap, control_topic, expected=DataControl, idle_timeout_s=1.0)]


def read_split(control: DataControl, split: str, bootstrap: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(iterate_samples(control, split, bootstrap, read_timeout_s=10))
    if not pairs:
        return np.empty((0, *control.input_shape)), np.empty((0, *control.label_shape))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = kafka.assigned_consumer(bootstrap)
    try:
        return consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    finally:
        consumer.close()


def test_raw_round_trip_has_exact_random_splits(platform_bootstrap: str) -> None:
    x, y = make_data(200)
    topic, control_topic = unique("raw"), unique("data-control")
    with RawSink(platform_bootstrap, topic, control_topic=control_topic, validation_rate=0.1, test_rate=0.25,
                 classes=3, seed=7, federated_string_id="rat", description="vehicle 1", block_size=64) as sink:
        sink.send_many(x, y)
    [control] = published_controls(platform_bootstrap, control_topic)
    assert (control.count("train"), control.count("validation"), control.count("test")) == (130, 20, 50)
    assert (control.input_shape, control.input_dtype, control.label_shape, control.label_dtype) == (
        SHAPE, "float32", (), "int64")
    assert (control.format, control.classes, control.federated_string_id) == ("RAW", 3, "rat")
    assert all(len(control.ranges(split)) == 1 for split in SPLITS)  # contiguous on a quiet topic

    seen = []
    for split in SPLITS:
        xs, ys = read_split(control, split, platform_bootstrap)
        assert len(xs) == control.count(split)
        indices = xs[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(xs, x[indices])  # every byte of every sample
        np.testing.assert_array_equal(ys, y[indices])  # and its own label
        seen.append(set(indices.tolist()))
    assert set.union(*seen) == set(range(200)) and sum(map(len, seen)) == 200  # disjoint and complete
    # Random, not positional: validation and test are not simply the last samples sent.
    assert seen[1] | seen[2] != set(range(130, 200))


def test_avro_round_trip_with_schemas_in_the_control_message(platform_bootstrap: str) -> None:
    data_schema = {"type": "record", "name": "Reading", "fields": [
        {"name": "index", "type": "int"}, {"name": "iq", "type": {"type": "array", "items": "float"}}]}
    label_schema = {"type": "record", "name": "Label", "fields": [{"name": "technology", "type": "int"}]}
    topic, control_topic = unique("avro"), unique("data-control")
    with AvroSink(platform_bootstrap, topic, control_topic=control_topic, data_schema=data_schema,
                  label_schema=label_schema, validation_rate=0.2, test_rate=0.2, seed=1) as sink:
        for index in range(50):
            sink.send({"index": index, "iq": [index / 2, -index / 2, 1.5]}, {"technology": index % 6})
    [control] = published_controls(platform_bootstrap, control_topic)
    assert control.format == "AVRO" and control.avro_data_schema == data_schema
    assert (control.input_shape, control.label_shape) == ((4,), ())
    assert (control.count("train"), control.count("validation"), control.count("test")) == (30, 10, 10)
    indices = []
    for split in SPLITS:
        xs, ys = read_split(control, split, platform_bootstrap)
        for sample, label in zip(xs, ys, strict=True):
            index = int(sample[0])
            np.testing.assert_array_equal(sample, np.float32([index, index / 2, -index / 2, 1.5]))
            assert int(label) == index % 6
            indices.append(index)
    assert sorted(indices) == list(range(50))


def test_the_same_dataset_read_twice_gives_the_same_samples(platform_bootstrap: str) -> None:
    x, y = make_data(120)
    control_topic = unique("data-control")
    with RawSink(platform_bootstrap, unique("twice"), control_topic=control_topic, validation_rate=0.2) as sink:
        sink.send_many(x, y)
    [control] = published_controls(platform_bootstrap, control_topic)

    plain = split_dataset(control, "train", platform_bootstrap, batch_size=16)
    first = np.concatenate([batch[0].numpy() for batch in plain])
    second = np.concatenate([batch[0].numpy() for batch in plain])
    np.testing.assert_array_equal(first, second)
    assert int(plain.cardinality()) == 6  # 96 samples in batches of 16

    shuffled = split_dataset(control, "train", platform_bootstrap, batch_size=16, shuffle_buffer=32, seed=5)
    epoch_1 = np.concatenate([batch[0].numpy() for batch in shuffled])
    epoch_2 = np.concatenate([batch[0].numpy() for batch in shuffled])
    again = split_dataset(control, "train", platform_bootstrap, batch_size=16, shuffle_buffer=32, seed=5)
    np.testing.assert_array_equal(np.concatenate([batch[0].numpy() for batch in again]), epoch_1)  # seeded
    assert not np.array_equal(epoch_1, first) and not np.array_equal(epoch_1, epoch_2)  # reshuffled per epoch
    for epoch in (epoch_1, epoch_2):
        np.testing.assert_array_equal(np.sort(epoch[:, 0, 0, 0]), np.sort(first[:, 0, 0, 0]))  # same samples


def test_offset_ranges_are_honoured_on_a_busy_topic(platform_bootstrap: str) -> None:
    """Records of other producers between ours (same size, so they would decode) are never read."""
    topic = unique("busy")
    topics.ensure_topic(platform_bootstrap, topic)
    x, y = make_data(30)
    producer = kafka.producer(platform_bootstrap)
    ours, offset = [], 0
    for index in range(30):
        for _ in range(index % 3):  # 0, 1 or 2 foreign records before each of ours
            producer.send(topic, np.full(SHAPE, -1, np.float32).tobytes(), key=np.int64(9).tobytes(), partition=0)
            offset += 1
        producer.send(topic, x[index].tobytes(), key=y[index].tobytes(), partition=0)
        ours.append(offset)
        offset += 1
    producer.flush()
    producer.close()
    control = DataControl(datasource_id="busy", topic=topic, format="RAW", train=compress_offsets(0, ours),
                          validation=(), test=(), input_shape=SHAPE, input_dtype="float32", label_shape=(),
                          label_dtype="int64")
    xs, ys = read_split(control, "train", platform_bootstrap)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def test_a_sink_closing_while_others_write_still_describes_only_its_samples(platform_bootstrap: str) -> None:
    topic, control_topic = unique("concurrent"), unique("data-control")
    x, y = make_data(3000)
    stop = threading.Event()

    def other_producer() -> None:
        producer = kafka.producer(platform_bootstrap, linger_ms=0)
        while not stop.is_set():
            producer.send(topic, np.full(SHAPE, -1, np.float32).tobytes(), key=np.int64(9).tobytes(), partition=0)
            time.sleep(0.0005)
        producer.close()

    sink = RawSink(platform_bootstrap, topic, control_topic=control_topic, validation_rate=0.1)
    sink.send_many(x, y)
    writer = threading.Thread(target=other_producer)
    writer.start()
    try:
        sink.close()
    finally:
        stop.set()
        writer.join()
    [control] = published_controls(platform_bootstrap, control_topic)
    xs = np.concatenate([read_split(control, split, platform_bootstrap)[0] for split in SPLITS])
    assert sorted(xs[:, 0, 0, 0].astype(int).tolist()) == list(range(3000))


def test_a_datasource_of_the_earlier_kafka_ml_can_be_read(platform_bootstrap: str) -> None:
    """An existing producer writes RAW records and its old-style control message, unchanged."""
    topic, control_topic = unique("legacy"), unique("control")
    topics.ensure_topic(platform_bootstrap, topic)
    topics.ensure_topic(platform_bootstrap, control_topic)
    x, y = make_data(40)
    producer = kafka.producer(platform_bootstrap)
    for sample, label in zip(x, y.astype(np.uint8), strict=True):
        producer.send(topic, sample.tobytes(), key=label.tobytes(), partition=0)
    old_style = {"topic": f"{topic}:0:0:40", "input_format": "RAW", "description": "old sink",
                 "input_config": {"data_type": "float32", "label_type": "uint8", "data_reshape": "2 16 1",
                                  "label_reshape": ""},
                 "validation_rate": 0.25, "test_rate": 0, "total_msg": 40, "dataset_restrictions": "{}"}
    producer.send(control_topic, json.dumps(old_style).encode(), key=b"42", partition=0)
    producer.flush()
    producer.close()
    [control] = published_controls(platform_bootstrap, control_topic)
    assert control.legacy and (control.count("train"), control.count("validation")) == (30, 10)
    xs, ys = read_split(control, "validation", platform_bootstrap)
    np.testing.assert_array_equal(xs, x[30:])
    np.testing.assert_array_equal(ys, y[30:])


def test_malformed_control_messages_are_logged_and_skipped(platform_bootstrap: str, caplog) -> None:
    control_topic = unique("control")
    topics.ensure_topic(platform_bootstrap, control_topic)
    good = MetricsMessage(model_id="m", sender="platform", metrics={"loss": 0.25})
    producer = kafka.producer(platform_bootstrap)
    for junk in (b"\x00\x01 not json", b'{"kind": "metrics", "version": 1, "model_id": "m"}',
                 json.dumps(good.to_json() | {"metrics": {"loss": "low"}}).encode()):
        producer.send(control_topic, junk, partition=0)
    offset = publish_control(producer, control_topic, good)
    producer.close()
    with caplog.at_level(logging.WARNING, logger="kafkaml.control_topics"):
        records = list(read_control(platform_bootstrap, control_topic, to_end=True))
    assert [(r.offset, r.message) for r in records] == [(offset, good)]
    warnings = [r.getMessage() for r in caplog.records if r.name == "kafkaml.control_topics"]
    assert len(warnings) == 3
    assert "not valid JSON" in warnings[0] and "metrics.metrics: is required" in warnings[1]
    assert "metrics.metrics.loss: expected a finite number" in warnings[2]
    # Reading from an offset resumes there.
    assert list(read_control(platform_bootstrap, control_topic, start_offset=offset + 1, to_end=True)) == []


@pytest.mark.parametrize(("bad", "error", "problem"), [
    (lambda sink: sink.send(np.zeros((2, 16), np.float32), 0), SampleError, r"shape \(2, 16\), the datasource declares \(2, 16, 1\)"),
    (lambda sink: sink.send(np.zeros(SHAPE, np.float64), 0), SampleError, "dtype float64, the datasource declares float32"),
    (lambda sink: sink.send(np.zeros(SHAPE, np.float32), 1.5), SampleError, "int64 without loss"),
    (lambda sink: sink.send(np.zeros(SHAPE, np.float32), 7), SampleError, r"outside \[0, 3\)"),
    (lambda sink: sink.send_many(np.zeros((3, *SHAPE), np.float32), [0, 1]), ValueError, "shorter"),
])
def test_bad_samples_are_refused_and_nothing_is_published(platform_bootstrap: str, bad, error, problem) -> None:
    topic, control_topic = unique("bad"), unique("data-control")
    x, y = make_data(10)
    with pytest.raises(error, match=problem), RawSink(platform_bootstrap, topic, control_topic=control_topic,
                                                      classes=3, input_shape=SHAPE, input_dtype="float32") as sink:
        sink.send_many(x, y)
        bad(sink)
    assert published_controls(platform_bootstrap, control_topic) == []
    assert end_offset(platform_bootstrap, topic) == 0  # not even the good samples reached the topic


def test_bad_avro_records_are_refused(platform_bootstrap: str) -> None:
    schema = {"type": "record", "name": "D", "fields": [{"name": "a", "type": "float"}]}
    label = {"type": "record", "name": "L", "fields": [{"name": "y", "type": "int"}]}
    with pytest.raises(SinkError, match=r"Avro data_schema field 'name' must be a number"):
        AvroSink(platform_bootstrap, unique("avro"), data_schema={"type": "record", "name": "D", "fields": [
            {"name": "name", "type": "string"}]}, label_schema=label)
    control_topic = unique("data-control")
    with AvroSink(platform_bootstrap, unique("avro"), control_topic=control_topic, data_schema=schema,
                  label_schema=label) as sink:
        with pytest.raises(SampleError, match="sample lacks field 'a' of its Avro schema"):
            sink.send({"b": 1.0}, {"y": 1})  # the first record declares the shape: it must be complete
        sink.send({"a": 1.0}, {"y": 1})
        with pytest.raises(SampleError, match="does not match its Avro schema: D.a is 'high', expected float"):
            sink.send({"a": "high"}, {"y": 1})
        with pytest.raises(SampleError, match="label does not match its Avro schema: L.y is None, expected int"):
            sink.send({"a": 2.0}, {"y": None})
        with pytest.raises(SampleError, match="must be a dict"):
            sink.send([2.0], {"y": 1})
    [control] = published_controls(platform_bootstrap, control_topic)
    assert control.total_msg == 1  # only the good record


@pytest.mark.parametrize(("rates", "problem"), [
    ((1.0, 0.0), r"validation_rate must be a number in \[0, 1\)"),
    ((-0.1, 0.0), r"validation_rate must be a number in \[0, 1\)"),
    ((0.0, "0.2"), r"test_rate must be a number in \[0, 1\)"),
    ((0.5, 0.5), "must be below 1"),
])
def test_bad_rates_are_refused_before_anything_is_created(platform_bootstrap: str, rates, problem) -> None:
    topic = unique("rates")
    with pytest.raises(SinkError, match=problem):
        RawSink(platform_bootstrap, topic, validation_rate=rates[0], test_rate=rates[1])
    assert topics.partition_count(platform_bootstrap, topic) is None


def test_empty_or_all_held_out_datasources_are_not_published(platform_bootstrap: str) -> None:
    control_topic = unique("data-control")
    with pytest.raises(SinkError, match="no samples were sent"), RawSink(platform_bootstrap, unique("empty"),
                                                                           control_topic=control_topic):
        pass
    sink = RawSink(platform_bootstrap, unique("tiny"), control_topic=control_topic, validation_rate=0.6)
    sink.send(np.zeros(SHAPE, np.float32), 0)
    with pytest.raises(SinkError, match="all 1 samples went to validation/test"):
        sink.close()
    with pytest.raises(SinkError, match="closed"):
        sink.send(np.zeros(SHAPE, np.float32), 0)
    assert published_controls(platform_bootstrap, control_topic) == []


def test_a_split_that_does_not_match_its_description_is_an_error(platform_bootstrap: str) -> None:
    topic = unique("mismatch")
    topics.ensure_topic(platform_bootstrap, topic)
    producer = kafka.producer(platform_bootstrap)
    producer.send(topic, b"\x00" * 7, key=np.int64(1).tobytes(), partition=0).get(10)
    producer.close()
    control = DataControl(datasource_id="m", topic=topic, format="RAW", train=(OffsetRange(0, 0, 1),),
                          validation=(), test=(), input_shape=SHAPE, input_dtype="float32", label_shape=(),
                          label_dtype="int64")
    with pytest.raises(StreamDataError, match=rf"{topic}\[0\]@0: record of 7 value bytes"):
        list(iterate_samples(control, "train", platform_bootstrap))


def test_unbounded_mode_follows_new_samples_until_idle(platform_bootstrap: str) -> None:
    control_topic, topic = unique("data-control"), unique("incremental")
    x, y = make_data(20)
    with RawSink(platform_bootstrap, topic, control_topic=control_topic, incremental=True) as sink:
        sink.send_many(x[:10], y[:10])
    [control] = published_controls(platform_bootstrap, control_topic)

    def append_later() -> None:
        time.sleep(0.5)
        producer = kafka.producer(platform_bootstrap)
        for sample, label in zip(x[10:], y[10:], strict=True):
            producer.send(topic, sample.tobytes(), key=label.tobytes(), partition=0)
        producer.close()

    writer = threading.Thread(target=append_later)
    writer.start()
    got = list(iterate_samples(control, "train", platform_bootstrap, unbounded=True, idle_timeout_s=2.0))
    writer.join()
    assert [int(sample[0, 0, 0]) for sample, _ in got] == list(range(20))


def test_keras_trains_from_the_stream(platform_bootstrap: str) -> None:
    x, y = make_data(256)
    x *= 0.1
    x[np.arange(256), 1, y, 0] = 3.0  # the label, one-hot, inside the sample: learnable in a few epochs
    control_topic = unique("data-control")
    with RawSink(platform_bootstrap, unique("fit"), control_topic=control_topic, validation_rate=0.25) as sink:
        sink.send_many(x, y)
    [control] = published_controls(platform_bootstrap, control_topic)
    model = keras.Sequential([keras.Input(shape=SHAPE), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(split_dataset(control, "train", platform_bootstrap, batch_size=32, shuffle_buffer=64, seed=0),
                        validation_data=split_dataset(control, "validation", platform_bootstrap, batch_size=64),
                        epochs=5, shuffle=False, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9


def test_a_broker_that_stops_mid_read_raises_a_timeout(tmp_path: Path) -> None:
    stack = local.up(0, tmp_path / "run")
    try:
        bootstrap = stack.bootstrap("platform")
        control_topic = unique("data-control")
        x, y = make_data(1500)
        x = np.repeat(x, 64, axis=2)  # 16 KiB samples: 24 MiB, more than one fetch
        with RawSink(bootstrap, unique("stops"), control_topic=control_topic) as sink:
            sink.send_many(x, y)
        [control] = published_controls(bootstrap, control_topic)
        samples = iterate_samples(control, "train", bootstrap, read_timeout_s=3.0)
        next(samples)
        processes.stop_group(stack.brokers[0].pid)
        started = time.monotonic()
        with pytest.raises(StreamTimeout, match="no record for 3 s"):
            for _ in samples:
                pass
        assert time.monotonic() - started < 30
    finally:
        local.down(tmp_path / "run")


def test_reading_a_split_streams_instead_of_loading_it(platform_bootstrap: str) -> None:
    """A 49 MB split is read in a bounded amount of memory (a few fetches, the shuffle buffer,
    a batch), not in memory proportional to the split."""
    control_topic = unique("data-control")
    x, y = make_data(1500)
    x = np.repeat(x, 256, axis=2)  # 32 KiB samples
    with RawSink(platform_bootstrap, unique("large"), control_topic=control_topic) as sink:
        sink.send_many(x, y)
    [control] = published_controls(platform_bootstrap, control_topic)
    del x
    split_bytes = control.count("train") * int(np.prod(control.input_shape)) * 4
    tracemalloc.start()
    try:
        batches = 0
        for batch, _ in iterate_batches(control, "train", platform_bootstrap, batch_size=16, shuffle_buffer=32):
            batches += 1
            assert batch.shape[1:] == control.input_shape
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batches == -(-control.count("train") // 16)
    assert split_bytes > 45 * 2**20
    assert peak < 12 * 2**20, f"reading peaked at {peak / 2**20:.1f} MiB"
