"""Weight transport throughput: kafkaml (serialise, chunk, hash, verify) vs bare clients, 1/10/100 MB.

For each size, on a private broker, one round trip = publish + fetch of the same weights:

* ``kafkaml``: :func:`kafkaml.weights.transport.publish_weights` + :func:`fetch_weights` (everything
  included: safetensors bytes, per-chunk and whole SHA-256, verification, rebuilding arrays);
* ``kafka-python``: bare produce of the same bytes in the same chunk size, bare consume;
* ``librdkafka`` (confluent-kafka): the same, for reference (informational).

Throughput is payload MB / (produce + consume seconds), the median of ``--repeats`` runs. The
three clients run back to back in a rotating order and the ratios are medians of per-repeat
ratios, so load from other work on the machine hits all three alike. The
peak memory of a 100 MB fetch (tracemalloc, Python and numpy allocations) is measured in a
separate run so tracing does not slow the timed ones.

    .venv/bin/python benchmarks/weight_transport.py --json out/weight_transport.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import numpy as np
from _report import write_figures
from _signals import sigterm_exits
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CTopicPartition
from kafka import TopicPartition
from rich.console import Console
from rich.table import Table

from kafkaml import kafka, topics
from kafkaml.local import stack as local
from kafkaml.weights.codec import serialize_weights
from kafkaml.weights.transport import CHUNK_BYTES, fetch_weights, publish_weights

MB = 1_000_000


def make_weights(size_mb: int) -> list[np.ndarray]:
    """A model-like list: one big kernel holding most bytes plus a few small tensors."""
    rng = np.random.default_rng(size_mb)
    big = rng.standard_normal((size_mb * MB - 4096) // 4, dtype=np.float32)
    return [big, rng.standard_normal(512, dtype=np.float32), np.zeros(256, np.float32), np.ones(256, np.float32)]


def new_topic(bootstrap: str, prefix: str) -> str:
    name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
    topics.ensure_topic(bootstrap, name, configs=topics.WEIGHTS_TOPIC_CONFIG)
    return name


def kafkaml_round_trip(bootstrap: str, weights: list[np.ndarray]) -> float:
    producer = kafka.producer(bootstrap)
    topic = new_topic(bootstrap, "kafkaml")
    started = time.perf_counter()
    pointer, digest = publish_weights(producer, topic, weights)
    fetched = fetch_weights(bootstrap, pointer, digest)
    elapsed = time.perf_counter() - started
    producer.close()
    assert np.array_equal(fetched[0], weights[0])
    return elapsed


def chunks_of(payload: bytes) -> list[memoryview]:
    view = memoryview(payload)
    return [view[start:start + CHUNK_BYTES] for start in range(0, len(payload), CHUNK_BYTES)]


def kafka_python_round_trip(bootstrap: str, payload: bytes) -> float:
    producer = kafka.producer(bootstrap)
    topic = new_topic(bootstrap, "raw")
    chunks = chunks_of(payload)
    started = time.perf_counter()
    for chunk in chunks:
        producer.send(topic, chunk, partition=0)
    producer.flush()
    tp = TopicPartition(topic, 0)
    consumer = kafka.assigned_consumer(bootstrap, [tp])
    consumer.seek(tp, 0)
    received: list[bytes] = []
    while len(received) < len(chunks):
        received += [record.value for record in consumer.poll(timeout_ms=200).get(tp, [])]
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    assert sum(map(len, received)) == len(payload)
    return elapsed


def librdkafka_round_trip(bootstrap: str, payload: bytes) -> float:
    topic = new_topic(bootstrap, "rdkafka")
    chunks = chunks_of(payload)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.max.bytes": kafka.MAX_MESSAGE_BYTES + 64 * 1024})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 64 * kafka.MAX_MESSAGE_BYTES})
    started = time.perf_counter()
    for chunk in chunks:
        producer.produce(topic, bytes(chunk), partition=0)
        producer.poll(0)
    producer.flush()
    consumer.assign([CTopicPartition(topic, 0, 0)])
    received = 0
    while received < len(payload):
        for message in consumer.consume(num_messages=500, timeout=0.2):
            if message.error() is None:
                received += len(message.value())
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def fetch_peak_memory(bootstrap: str, weights: list[np.ndarray]) -> float:
    """Peak traced bytes of one fetch, divided by the payload size."""
    pointer, digest = publish_weights(bootstrap, new_topic(bootstrap, "memory"), weights)
    payload_bytes = len(serialize_weights(weights))
    tracemalloc.start()
    try:
        fetch_weights(bootstrap, pointer, digest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / payload_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100], help="payload sizes in MB")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()
    kafka.require_fast_crc()

    figures: dict[str, float] = {}
    table = Table(title="weight transport round trip (publish + fetch), MB/s and ratios, median of "
                        f"{args.repeats}; chunks of {CHUNK_BYTES} bytes")
    for column in ("size", "kafkaml", "kafka-python bare", "librdkafka bare", "kafkaml / kafka-python",
                   "kafkaml / librdkafka"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as run_dir:
        stack = local.up(0, Path(run_dir))
        try:
            bootstrap = stack.bootstrap("platform")
            for size in args.sizes:
                weights = make_weights(size)
                payload = serialize_weights(weights)
                runs = [("kafkaml", kafkaml_round_trip, weights), ("raw", kafka_python_round_trip, payload),
                        ("librdkafka", librdkafka_round_trip, payload)]
                seconds: dict[str, list[float]] = {name: [] for name, _, _ in runs}
                for repeat in range(args.repeats):
                    # The three run back to back, in a rotating order, so they share the same load.
                    for name, run, data in runs[repeat % 3:] + runs[:repeat % 3]:
                        seconds[name].append(run(bootstrap, data))
                rates = {name: len(payload) / MB / statistics.median(values) for name, values in seconds.items()}
                for name in rates:
                    figures[f"{name}_mb_per_s_{size}mb"] = round(rates[name], 1)
                for other, key in (("raw", "transport_over_raw"), ("librdkafka", "transport_over_librdkafka")):
                    ratios = [o / k for k, o in zip(seconds["kafkaml"], seconds[other], strict=True)]
                    figures[f"{key}_{size}mb"] = round(statistics.median(ratios), 3)
                table.add_row(f"{size} MB", f"{rates['kafkaml']:.1f}", f"{rates['raw']:.1f}",
                              f"{rates['librdkafka']:.1f}", f"{figures[f'transport_over_raw_{size}mb']:.2f}",
                              f"{figures[f'transport_over_librdkafka_{size}mb']:.2f}")
            peak_size = max(args.sizes)
            figures[f"peak_memory_over_payload_{peak_size}mb"] = round(fetch_peak_memory(bootstrap, make_weights(peak_size)), 3)
        finally:
            local.down(Path(run_dir))
    console = Console()
    console.print(table)
    console.print(f"peak memory of a {peak_size} MB fetch: "
                  f"{figures[f'peak_memory_over_payload_{peak_size}mb']:.2f} x the payload")
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
