"""Inference through the worker against the same model's predictions in memory, for the RAT CNN.

Three figures, on one machine, with a platform broker of the local stack of the run's own:

* in memory: the worker's own batches (``--batch`` samples) predicted one after another in this
  process, with ``predict_on_batch`` (what the worker calls) and with ``model.predict``, before and
  right after the worker's run; the fastest is the baseline, so the ratio is the conservative one.
  Beside it, for reading the ratio, ``predict_on_batch`` with as many batches at once as the worker
  keeps in the model (``MODEL_BATCHES_IN_FLIGHT``): the most the model gives in this process;
* through the worker: ``--records`` samples already in the input topic, answered by one worker
  (``python -m inference_worker``, started as a local job, warmed up and joined before the clock
  starts); records per second from the first prediction's arrival to the last one's;
* latency: one record at a time, paced at half that throughput, each timed from its send to its
  prediction's arrival (the 99th percentile).

The samples are random (the model's weights are untrained): inference costs the same either way.

    .venv/bin/python benchmarks/inference.py --json out/inference.json
    .venv/bin/python benchmarks/inference.py --quick --json out/inference-quick.json
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _report import print_and_write
from _signals import sigterm_exits
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer
from confluent_kafka import TopicPartition as CTopicPartition
from kafka.admin import NewTopic

from inference_worker.answers import OFFSET_HEADER
from inference_worker.settings import DEFAULT_BATCH, DEFAULT_BATCH_WAIT_MS
from inference_worker.worker import FETCH_MAX_WAIT_MS, MODEL_BATCHES_IN_FLIGHT
from kafkaml import kafka
from kafkaml.jobs import InferenceJob, JobSpec, LocalJob, LocalLauncher, Role
from kafkaml.local import stack as local
from kafkaml.usecases.rat.model import build
from kafkaml.usecases.rat.names import DEFAULT_WINDOW

SHAPE = (2, DEFAULT_WINDOW, 1)
PARTITIONS = 2
SCALES = {"full": {"records": 6000, "latency_records": 3000}, "quick": {"records": 600, "latency_records": 200}}


class Arrivals:
    """When each prediction arrived (by input partition and offset), read as they come.

    The reader is librdkafka (confluent-kafka), not kafka-python: it shares the two cores with the
    worker and the broker, and kafka-python's decoding of every answer in Python would take its
    share from the worker it measures.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        # Tansu holds a fetch for its whole wait even when records arrive meanwhile: 10 ms, as the worker's.
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-arrivals",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": FETCH_MAX_WAIT_MS})
        self.consumer.assign([CTopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(partitions)])
        self.at: dict[tuple[int, int], float] = {}

    def until(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.at) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.at)} of {count} predictions within {timeout_s:.0f} s")
            # poll returns at the first message; consume would wait to fill its batch or time out
            first = self.consumer.poll(0.1)
            now = time.perf_counter()
            if first is None:
                continue
            for message in [first, *self.consumer.consume(num_messages=10000, timeout=0)]:
                if message.error() is not None:
                    raise RuntimeError(f"reading the predictions: {message.error()}")
                self.at[(message.partition(), int(dict(message.headers())[OFFSET_HEADER]))] = now

    def close(self) -> None:
        self.consumer.close()


def in_memory_rate(model, x: np.ndarray, batch: int) -> tuple[float, float]:
    """Samples per second of ``predict_on_batch`` over ``x`` in batches, and of ``model.predict``."""
    model.predict_on_batch(x[:batch])  # traces the graph, as the worker's warm-up does
    started = time.perf_counter()
    for start in range(0, len(x), batch):
        model.predict_on_batch(x[start:start + batch])
    on_batch = len(x) / (time.perf_counter() - started)
    model.predict(x[:batch], batch_size=batch, verbose=0)
    started = time.perf_counter()
    model.predict(x, batch_size=batch, verbose=0)
    return on_batch, len(x) / (time.perf_counter() - started)


def in_flight_rate(model, x: np.ndarray, batch: int, in_flight: int) -> float:
    """Samples per second of ``predict_on_batch`` over ``x`` with ``in_flight`` batches at once."""
    with ThreadPoolExecutor(in_flight) as pool:
        started = time.perf_counter()
        for _ in pool.map(model.predict_on_batch, (x[start:start + batch] for start in range(0, len(x), batch))):
            pass
        return len(x) / (time.perf_counter() - started)


def produce(bootstrap: str, topic: str, x: np.ndarray, first_key: int) -> None:
    producer = kafka.producer(bootstrap)
    for index, sample in enumerate(x):
        producer.send(topic, key=f"k-{first_key + index}".encode(), value=sample.tobytes(), partition=index % PARTITIONS)
    producer.flush()
    producer.close()


def paced(bootstrap: str, topic: str, x: np.ndarray, rate: float, sent: dict[tuple[int, int], float]) -> None:
    """Send one record every 1/rate s (linger 0: each leaves at once), noting when each was sent.

    librdkafka's producer, as the answers' reader: kafka-python's sender thread fell behind one
    request per record at a few thousand records a second on the cores the worker uses, and its
    backlog counted as the worker's latency."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    started = time.perf_counter()
    at: dict[int, float] = {}
    failed: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:
            failed.append(str(error))
        else:
            sent[(message.partition(), message.offset())] = at[int(message.key()[2:])]

    for index, sample in enumerate(x):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        at[index] = time.perf_counter()
        producer.produce(topic, key=f"p-{index}".encode(), value=sample.tobytes(), partition=index % PARTITIONS,
                         on_delivery=delivered)
        producer.poll(0)
    if producer.flush(30) or failed:
        raise RuntimeError(f"paced records not delivered: {failed[:3] or 'flush timed out'}")


def start_worker(run_dir: Path, job: InferenceJob) -> LocalJob:
    spec = JobSpec(name="inference-bench", role=Role.INFERENCE, owner="benchmark", training=str(job.result_id),
                   image="kafka-ml/worker:0.1.0", module="inference_worker", environment=job.environment())
    return LocalJob(LocalLauncher(run_dir), spec).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred records: the harness, not the figures")
    parser.add_argument("--records", type=int, default=None, help="records answered for the throughput")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--batch-wait-ms", type=int, default=DEFAULT_BATCH_WAIT_MS)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()
    scale = "quick" if args.quick else "full"
    records = args.records or SCALES[scale]["records"]
    latency_records = SCALES[scale]["latency_records"]
    kafka.require_fast_crc()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(records, *SHAPE)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as run_dir:
        model, _, _ = build()
        model_path = Path(run_dir) / "rat.keras"
        model.save(model_path)
        on_batch, predict = in_memory_rate(model, x, args.batch)

        stack = local.up(0, Path(run_dir) / "stack")
        worker = arrivals = None
        try:
            bootstrap = stack.bootstrap("platform")
            job = InferenceJob(
                result_id=1, bootstrap_servers=bootstrap, input_topic="bench-in", output_topic="bench-out",
                error_topic="bench-err", group_id="bench", input_format="RAW",
                input_config={"data_type": "float32", "data_reshape": list(SHAPE)},
                model_sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(), model_file=str(model_path),
                batch=args.batch, batch_wait_ms=args.batch_wait_ms)
            admin = kafka.admin(bootstrap)  # all three now, so that arrivals are timed from the first
            admin.create_topics([NewTopic(topic, PARTITIONS, 1) for topic in
                                 (job.input_topic, job.output_topic, job.error_topic)])
            admin.close()
            produce(bootstrap, job.input_topic, x, 0)
            arrivals = Arrivals(bootstrap, job.output_topic, PARTITIONS)
            worker = start_worker(Path(run_dir) / "jobs", job)
            arrivals.until(records, timeout_s=600)
            times = sorted(arrivals.at.values())
            through_worker = (records - 1) / (times[-1] - times[0])
            # Again, right after, while the worker idles: a shared machine's load moves within seconds.
            on_batch, predict = (max(pair) for pair in zip((on_batch, predict), in_memory_rate(model, x, args.batch),
                                                           strict=True))
            in_memory = max(on_batch, predict)
            in_flight = in_flight_rate(model, x, args.batch, MODEL_BATCHES_IN_FLIGHT)

            sent: dict[tuple[int, int], float] = {}
            rate = through_worker / 2
            latency_x = x[:latency_records]
            pacer = threading.Thread(target=paced, args=(bootstrap, job.input_topic, latency_x, rate, sent))
            arrivals.at.clear()
            pacer.start()
            arrivals.until(latency_records, timeout_s=600)
            pacer.join()
            latencies_ms = sorted(1000 * (arrivals.at[place] - sent[place]) for place in sent)
        finally:
            if worker is not None:
                worker.stop()
            if arrivals is not None:
                arrivals.close()
            local.down(Path(run_dir) / "stack")

    figures = {
        "scale": scale, "records": records, "batch": args.batch, "batch_wait_ms": args.batch_wait_ms,
        "in_memory_records_per_s": round(in_memory, 1),
        "in_memory_predict_on_batch_records_per_s": round(on_batch, 1),
        "in_memory_model_predict_records_per_s": round(predict, 1),
        "model_batches_in_flight": MODEL_BATCHES_IN_FLIGHT,
        "in_memory_in_flight_records_per_s": round(in_flight, 1),
        "inference_records_per_s": round(through_worker, 1),
        "inference_over_in_memory": round(through_worker / in_memory, 3),
        "latency_rate_records_per_s": round(rate, 1),
        "inference_latency_ms_p50": round(statistics.median(latencies_ms), 2),
        "inference_latency_ms_p99": round(statistics.quantiles(latencies_ms, n=100, method="inclusive")[-1], 2),
    }
    print_and_write(f"RAT CNN inference ({scale}: {records} records, batch {args.batch}, "
                        f"wait {args.batch_wait_ms} ms)", figures, args.json)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
