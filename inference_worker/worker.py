"""The inference worker's loop (``python -m inference_worker``): consume samples in the
deployment's consumer group, predict them in batches, answer each on the output or error topic,
then commit; a restart or a rebalance answers nothing twice (:mod:`inference_worker.answers`).

A batch is predicted when it holds BATCH samples or its first sample has waited BATCH_WAIT_MS,
which bounds a sample's wait when the input is slow. The model predicts up to
MODEL_BATCHES_IN_FLIGHT batches at once, in threads of their own, while the loop sends the
answers of the batches predicted before and polls for the next, so Kafka's round trips overlap
the model's work; answers still leave in input order. The group consumer and the answer producer are librdkafka's
(``kafkaml.kafka.group_consumer``): their network work runs in C threads, so it neither holds
the interpreter nor waits for it while the model predicts. Answers are flushed only before the offsets past them are
committed and when partitions are revoked (the next owner must find every answer sent), not per
batch: a flush per batch cost a produce round trip that stalled the loop each time. A batch still
being predicted at a revocation is only in hand, and its records of revoked partitions are left
to their next owner. librdkafka calls the rebalance callbacks within ``poll``/``consume``, on the
loop's own thread. Everything between two polls must end within the group's rebalance timeout
(``kafkaml.kafka.GROUP_REBALANCE_TIMEOUT_MS``) or the group hands the partitions on: the model is
warmed up before the worker joins, so its first batch does not pay the graph tracing.

Exit codes: 0 after SIGTERM/SIGINT (the batches in hand answered, flushed and committed first); 2,
with one line saying why, when the worker cannot answer at all (a bad environment, a model that
is not the pinned one or does not take the declared samples); 1 when Kafka fails under it, so
that its Deployment restarts it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from confluent_kafka import Consumer, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as Assignment
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from inference_worker.answers import answered_offsets, error_value, headers, prediction_value
from inference_worker.model import ModelRefused, Predictor, load_model
from inference_worker.settings import load_job
from kafkaml import kafka
from kafkaml.codecs import AvroSampleCodec, RawSampleCodec, SampleError
from kafkaml.config import ConfigError
from kafkaml.faults import fault_point
from kafkaml.jobs import InferenceJob
from kafkaml.logs import configure as configure_logging
from kafkaml.streams import StreamError
from kafkaml.topics import TopicError, ensure_topic, partition_count

log = logging.getLogger("inference_worker")

IDLE_POLL_MS = 200
#: The longest poll while a batch is being predicted.
PREDICTING_POLL_MS = 2
#: Batches the model predicts at once. TensorFlow leaves its two-core pool partly idle within one
#: batch (measured in memory with the RAT CNN: two batches at once gave 1.23 times the records a
#: second of one after another, at less processor time a record), and a second batch keeps the
#: model busy while the loop answers and polls. Beyond this many the loop waits for the oldest:
#: the batches in hand stay bounded.
MODEL_BATCHES_IN_FLIGHT = 2
TOPIC_WAIT_S = 1.0
#: How long Tansu may hold a fetch: with kafka-python's 500 ms, the worker stalled for about that
#: long each time its fetched records ran out, although more were in the topic (RAT CNN: 465
#: records/s through the worker, 1,175 with 10 ms).
FETCH_MAX_WAIT_MS = 10
#: The least time between two background commits: a commit per batch cost the broker and both
#: of the worker's threads a request each, and a commit later than it could be only makes the
#: next owner of a partition read back more answers (inference_worker.answers).
COMMIT_INTERVAL_S = 0.5
#: A tail read's polls return whole fetches (inference_worker.answers._read_to_the_end).
TAIL_POLL_RECORDS = 1 << 20
#: How long a committed-offset or watermark lookup, and the flush of the answers, may take.
REQUEST_TIMEOUT_S = 15.0


class Input(NamedTuple):
    """One input record, copied out of librdkafka's message."""

    tp: TopicPartition
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, message: Message) -> Input:
        return cls(TopicPartition(message.topic(), message.partition()), message.offset(), message.key(),
                   message.value())


@dataclass
class Predicting:
    """A batch whose samples the model is predicting in the background."""

    records: list[Input]
    #: Position in ``records`` → why that record is not a sample.
    reasons: dict[int, str]
    #: The model's outputs for the other records, in order.
    outputs: Future
    #: Partitions revoked meanwhile: their records are left unanswered, for their next owner.
    revoked: set[TopicPartition] = field(default_factory=set)


class Answering:
    """The answers of one worker: the batch in hand, the batches being predicted, and per input
    partition the next offset to commit and the offsets its answer partitions already answer."""

    def __init__(self, job: InferenceJob, codec: RawSampleCodec | AvroSampleCodec, predictor: Predictor,
                 producer: Producer, reader: KafkaConsumer) -> None:
        self.job, self.codec, self.predictor = job, codec, predictor
        self.producer, self.reader = producer, reader
        self.consumer: Consumer | None = None
        self.batch: list[Input] = []
        self.batch_started = 0.0
        self.answered: dict[TopicPartition, set[int]] = {}
        self.next_offset: dict[TopicPartition, int] = {}
        self.uncommitted: set[TopicPartition] = set()
        #: Answers sent since the last flush, and the first of their delivery errors: it surfaces
        #: at the flush, before any commit.
        self.unflushed = 0
        self.delivery_error: Exception | None = None
        self.committed_at = -COMMIT_INTERVAL_S
        #: Oldest first: answers are sent in this order.
        self.predicting: deque[Predicting] = deque()
        self.executor = ThreadPoolExecutor(MODEL_BATCHES_IN_FLIGHT, thread_name_prefix="predict")

    # --- the group's partitions ------------------------------------------------------------
    # librdkafka calls these within poll/consume, on the loop's thread, between two batches.

    def on_assign(self, consumer: Consumer, assigned: list[Assignment]) -> None:
        """Start each assigned partition at its committed offset (its beginning when none is),
        knowing which inputs past it are answered already."""
        log.info("assigned partitions %s", json.dumps(sorted(a.partition for a in assigned)))
        committed = consumer.committed([Assignment(a.topic, a.partition) for a in assigned], timeout=REQUEST_TIMEOUT_S)
        starts = []
        for entry in committed:
            if entry.error is not None:
                raise KafkaException(entry.error)
            tp, offset = TopicPartition(entry.topic, entry.partition), entry.offset
            if offset < 0:  # nothing committed yet
                offset = consumer.get_watermark_offsets(Assignment(tp.topic, tp.partition),
                                                        timeout=REQUEST_TIMEOUT_S)[0]
            answer_partitions = [TopicPartition(self.job.output_topic, tp.partition),
                                 TopicPartition(self.job.error_topic, tp.partition)]
            self.answered[tp] = answered_offsets(self.reader, answer_partitions, offset)
            self.next_offset[tp] = offset
            starts.append(Assignment(tp.topic, tp.partition, offset))
            log.info("partition %d: resumes at offset %d (%d input(s) past it answered already)", tp.partition,
                     offset, len(self.answered[tp]))
        consumer.assign(starts)

    def on_revoke(self, consumer: Consumer, revoked: list[Assignment]) -> None:
        """Flush the answers sent, so that the partitions' next owner finds them, and forget the
        revoked partitions; their inputs in hand are unanswered and uncommitted, so whoever takes
        them next answers them. The flush is the one wait here: answers sent are at most a batch
        or two, already on their way (the producer lingers 5 ms)."""
        self.flush()
        gone = {TopicPartition(a.topic, a.partition) for a in revoked}
        self.batch = [record for record in self.batch if record.tp not in gone]
        for predicting in self.predicting:
            predicting.revoked |= gone
        for tp in gone:
            self.answered.pop(tp, None)
            self.next_offset.pop(tp, None)
        self.uncommitted -= gone

    # --- records ---------------------------------------------------------------------------

    def take(self, record: Input) -> None:
        """Put ``record`` in the batch, unless its answer was written before a restart."""
        tp = record.tp
        if tp not in self.next_offset:
            return  # of a partition revoked since it was fetched: its next owner reads it again
        answered = self.answered[tp]
        if record.offset in answered:
            answered.discard(record.offset)
            self._advance(tp, record.offset)
            return
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append(record)

    def due(self) -> bool:
        waited_ms = 1000 * (time.monotonic() - self.batch_started)
        return len(self.batch) >= self.job.batch or (bool(self.batch) and waited_ms >= self.job.batch_wait_ms)

    def wait_ms(self) -> int:
        """How long the next poll may wait: until the batch is due, or an idle poll; briefly while
        a prediction runs, to answer it soon after it ends."""
        wait = IDLE_POLL_MS
        if self.batch:
            wait = max(0, int(self.job.batch_wait_ms - 1000 * (time.monotonic() - self.batch_started)))
        return min(wait, PREDICTING_POLL_MS) if self.predicting else wait

    def predict_batch(self) -> None:
        """Start predicting the batch in hand, then answer the batches predicted before it: the
        model works on the new batch while the earlier answers are sent. With more than
        MODEL_BATCHES_IN_FLIGHT batches in the model, this waits for the oldest."""
        if self.batch:
            samples, reasons = [], {}
            for position, record in enumerate(self.batch):
                try:
                    samples.append(self.codec.decode_sample(record.value))
                except SampleError as exc:
                    reasons[position] = str(exc)
            outputs = self.executor.submit(self.predictor.predict, np.stack(samples)) if samples else \
                _done(np.empty((0,)))
            self.predicting.append(Predicting(self.batch, reasons, outputs))
            self.batch = []
        while len(self.predicting) > MODEL_BATCHES_IN_FLIGHT:
            self.answer(self.predicting.popleft())
        self.answer_predicted()

    def answer_predicted(self) -> None:
        """Answer the batches predicted in the background so far, oldest first."""
        while self.predicting and self.predicting[0].outputs.done():
            self.answer(self.predicting.popleft())

    def drain(self) -> None:
        """Answer everything in hand (stopping)."""
        self.predict_batch()
        while self.predicting:
            self.answer(self.predicting.popleft())

    def answer(self, predicted: Predicting) -> None:
        """Send one answer per record of a predicted batch; :meth:`flush` waits for them."""
        answers = iter(self.predictor.answers(predicted.outputs.result()))
        errors = 0
        for position, record in enumerate(predicted.records):  # input order: answer partitions stay in order
            reason = predicted.reasons.get(position)
            if reason is None:
                answer = next(answers)
                reason = Predictor.NOT_FINITE if answer is None else None
            tp = record.tp
            if tp in predicted.revoked:
                continue
            if reason is None:
                topic, value = self.job.output_topic, prediction_value(answer)
            else:
                topic, value = self.job.error_topic, error_value(reason, tp.topic, tp.partition, record.offset)
                errors += 1
            self.send(topic, value, record)
            self._advance(tp, record.offset)
        if errors:
            log.warning("%d record(s) answered on %s", errors, self.job.error_topic)

    def send(self, topic: str, value: bytes, record: Input) -> None:
        """Queue one answer; when librdkafka's queue is full, serve deliveries until it is not."""
        while True:
            try:
                self.producer.produce(topic, value=value, key=record.key, headers=headers(record.offset),
                                      partition=record.tp.partition, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.unflushed += 1

    def _delivered(self, error: object, _message: Message) -> None:
        if error is not None and self.delivery_error is None:
            self.delivery_error = KafkaException(error)

    def flush(self) -> None:
        """Wait until every answer sent is written; raise the first send's error, so that nothing
        is committed past an answer that is not."""
        if not self.unflushed:
            return
        left = self.producer.flush(REQUEST_TIMEOUT_S)
        self.unflushed = 0
        if self.delivery_error is not None:
            raise self.delivery_error
        if left:
            raise KafkaException(f"{left} answer(s) not written within {REQUEST_TIMEOUT_S:.0f} s")
        fault_point("inference.after_flush")

    def commit(self, *, wait: bool = False) -> None:
        """Commit the offsets past every answered input: in the background while the worker runs,
        at most every COMMIT_INTERVAL_S (a late or lost commit only makes the next owner skip more,
        see :mod:`inference_worker.answers`), and waited for when it stops."""
        if not self.uncommitted or (not wait and time.monotonic() - self.committed_at < COMMIT_INTERVAL_S):
            return
        self.committed_at = time.monotonic()
        assert self.consumer is not None
        self.flush()
        # Never past an input in hand: an answered input skipped after it must not commit it.
        in_hand = [*self.batch, *(record for predicting in self.predicting for record in predicting.records)]
        lowest = {tp: offset for tp, offset in self.next_offset.items() if tp in self.uncommitted}
        for record in in_hand:
            if record.tp in lowest:
                lowest[record.tp] = min(lowest[record.tp], record.offset)
        offsets = [Assignment(tp.topic, tp.partition, offset) for tp, offset in lowest.items()]
        self.uncommitted = {tp for tp, offset in lowest.items() if offset < self.next_offset[tp]}
        try:
            self.consumer.commit(offsets=offsets, asynchronous=not wait)
        except KafkaException as exc:  # the group moved on; the next owner skips what is answered
            log.warning("offsets not committed (%s); the partitions' next owner skips the answered inputs", exc)

    def _advance(self, tp: TopicPartition, offset: int) -> None:
        self.next_offset[tp] = max(self.next_offset.get(tp, 0), offset + 1)
        self.uncommitted.add(tp)


def _done(value: np.ndarray) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _commit_done(error: object, _offsets: list[Assignment]) -> None:
    """A background commit's outcome (librdkafka's ``on_commit``)."""
    if error is not None:
        log.warning("offsets not committed (%s); the partitions' next owner skips the answered inputs", error)


def serve(job: InferenceJob, codec: RawSampleCodec | AvroSampleCodec, predictor: Predictor,
          stop: threading.Event) -> None:
    """Answer INPUT_TOPIC until ``stop`` is set."""
    partitions = _wait_for_topic(job.bootstrap_servers, job.input_topic, stop)
    if partitions is None:
        return
    output_bootstrap = job.output_bootstrap_servers or job.bootstrap_servers
    for topic in (job.output_topic, job.error_topic):
        ensure_topic(output_bootstrap, topic, partitions=partitions)
    # Only failed answers call back: a callback per answer cost the loop a Python call each.
    producer = kafka.idempotent_producer(output_bootstrap, **{"delivery.report.only.error": True})
    reader = kafka.assigned_consumer(output_bootstrap, max_poll_records=TAIL_POLL_RECORDS)
    answering = Answering(job, codec, predictor, producer, reader)
    consumer = kafka.group_consumer(job.bootstrap_servers, job.group_id, on_commit=_commit_done,
                                    **{"fetch.wait.max.ms": FETCH_MAX_WAIT_MS})
    answering.consumer = consumer
    consumer.subscribe([job.input_topic], on_assign=answering.on_assign, on_revoke=answering.on_revoke)
    log.info("result %d answers %s (%d partition(s)) on %s, errors on %s, in group %s", job.result_id,
             job.input_topic, partitions, job.output_topic, job.error_topic, job.group_id)
    try:
        while not stop.is_set():
            for message in _poll(consumer, answering.wait_ms(), job.batch - len(answering.batch)):
                answering.take(Input.of(message))
            producer.poll(0)  # delivery callbacks
            if answering.due():
                answering.predict_batch()
            else:
                answering.answer_predicted()
            answering.commit()
        answering.drain()
        answering.commit(wait=True)
        log.info("stopped: every input taken is answered and committed")
    finally:
        answering.executor.shutdown()
        consumer.close()  # leaves the group; on_revoke flushes what is still unflushed
        producer.flush(REQUEST_TIMEOUT_S)
        reader.close()


def _poll(consumer: Consumer, wait_ms: int, most: int) -> list[Message]:
    """Up to ``most`` (at least one) records: waits at most ``wait_ms`` for the first, then takes
    what is already fetched (``consume`` alone would wait for all of them, past the batch's
    deadline). Raises on a fatal error; librdkafka recovers from the others (a broker gone for a
    while, a topic not yet known) by itself, so they are only logged."""
    first = consumer.poll(wait_ms / 1000)
    if first is None:
        return []
    messages = [first, *consumer.consume(num_messages=most - 1, timeout=0)] if most > 1 else [first]
    records = []
    for message in messages:
        error = message.error()
        if error is None:
            records.append(message)
        elif error.fatal():
            raise KafkaException(error)
        else:
            log.warning("Kafka: %s", error)
    return records


def _wait_for_topic(bootstrap: str, topic: str, stop: threading.Event) -> int | None:
    """INPUT_TOPIC's partition count once it exists (a deployment may come before its producers)."""
    logged = False
    while not stop.is_set():
        count = partition_count(bootstrap, topic)
        if count is not None:
            return count
        if not logged:
            log.info("waiting for topic %s to exist on %s", topic, bootstrap)
            logged = True
        stop.wait(TOPIC_WAIT_S)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        job, codec = load_job(os.environ)
        predictor = Predictor(load_model(job), codec.shape)
        predictor.predict(np.zeros((job.batch, *codec.shape), codec.dtype))  # warm-up: traces the graph
    except (ConfigError, ModelRefused) as exc:
        print(f"inference worker: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        serve(job, codec, predictor, stop)
    except (KafkaError, KafkaException, kafka.KafkaUnavailable, TopicError, StreamError) as exc:
        log.error("Kafka failed: %s: %s", type(exc).__name__, exc)
        return 1
    return 0
