"""The worker keeps up to MODEL_BATCHES_IN_FLIGHT batches in the model at once, answers them in
input order whichever finishes first, and waits for the oldest before it holds one more."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
from kafka import TopicPartition

from inference_worker.settings import load_job
from inference_worker.worker import MODEL_BATCHES_IN_FLIGHT, Answering, Input
from tests.unit.test_inference_settings import JOB

TP = TopicPartition("in", 0)
SAMPLE = np.zeros((2, 3), np.float32).tobytes()


class GatedModel:
    """Predicts each batch (its first sample's first value is the batch's number) only once the
    test opens that batch's gate; answers carry the batch's number."""

    def __init__(self, batches: int) -> None:
        self.gates = [threading.Event() for _ in range(batches)]
        self.started: list[int] = []

    def predict(self, samples: np.ndarray) -> np.ndarray:
        number = int(samples[0, 0, 0])
        self.started.append(number)
        assert self.gates[number].wait(10), f"batch {number} never released"
        return np.full((len(samples), 1), number, np.float32)

    def answers(self, outputs: np.ndarray) -> list[dict]:
        return [{"values": row} for row in outputs.tolist()]


class Sent:
    """The producer's sends, in order."""

    def __init__(self) -> None:
        self.offsets: list[int] = []

    def produce(self, topic: str, *, value: bytes, key: bytes, headers, partition: int, on_delivery) -> None:
        self.offsets.append(int(dict(headers)["kafkaml-input-offset"]))

    def poll(self, _timeout: float) -> int:
        return 0


def sample(batch_number: int) -> bytes:
    return np.full((2, 3), batch_number, np.float32).tobytes()


def answering_for(batches: int) -> tuple[Answering, GatedModel, Sent]:
    job, codec = load_job(replace(JOB, batch=2).environment())
    model, sent = GatedModel(batches), Sent()
    answering = Answering(job, codec, predictor=model, producer=sent, reader=None)
    answering.next_offset[TP], answering.answered[TP] = 0, set()
    return answering, model, sent


def hand_over(answering: Answering, batch_number: int) -> None:
    for offset in (2 * batch_number, 2 * batch_number + 1):
        answering.take(Input(TP, offset, b"k", sample(batch_number)))


def test_a_later_batch_done_first_waits_for_the_earlier_one() -> None:
    assert MODEL_BATCHES_IN_FLIGHT == 2
    answering, model, sent = answering_for(2)
    hand_over(answering, 0)
    answering.predict_batch()
    hand_over(answering, 1)
    answering.predict_batch()
    model.gates[1].set()
    answering.predicting[1].outputs.result(timeout=10)
    answering.answer_predicted()
    assert sent.offsets == [], "batch 1 is predicted, but batch 0 is not answered yet"
    model.gates[0].set()
    answering.predicting[0].outputs.result(timeout=10)
    answering.answer_predicted()
    assert sent.offsets == [0, 1, 2, 3]
    assert not answering.predicting
    answering.executor.shutdown()


def test_both_batches_are_in_the_model_at_once_and_a_third_waits_for_the_oldest() -> None:
    answering, model, sent = answering_for(3)
    hand_over(answering, 0)
    answering.predict_batch()
    hand_over(answering, 1)
    answering.predict_batch()
    for _ in range(200):
        if len(model.started) == 2:
            break
        threading.Event().wait(0.01)
    assert sorted(model.started) == [0, 1], "the second batch started while the first was still predicted"

    model.gates[0].set()
    hand_over(answering, 2)
    answering.predict_batch()  # three in hand: answers the oldest (waiting for it) before going on
    assert sent.offsets == [0, 1]
    assert len(answering.predicting) == MODEL_BATCHES_IN_FLIGHT

    model.gates[1].set()
    model.gates[2].set()
    answering.drain()
    assert sent.offsets == [0, 1, 2, 3, 4, 5]
    answering.executor.shutdown()
