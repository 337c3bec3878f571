"""Screening one queued update: every failure is a rejection with a reason, never an exception."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.pointers import WeightsPointer
from kafkaml.rewards import RejectReason, RewardPolicy
from kafkaml.strategies import make_strategy
from kafkaml.weights import Decoded, PayloadSizeError, update_metadata
from training_worker.coordination.base import QueuedUpdate
from training_worker.evaluation import Score
from training_worker.rounds import screen

CLIENT = "0xAbCdEf0000000000000000000000000000000001"
UPDATE = QueuedUpdate(CLIENT, 2, b"\x01" * 32, WeightsPointer("kml-weights-t-1", 0, 0, 1), 10)
CURRENT = [np.zeros((2, 2), np.float32)]


class FixedValidator:
    """Scores every set of weights the same (the measurement is not what is tested here)."""

    def score(self, weights) -> Score:
        return Score(0.5, 0.9)


def run_screen(fetched) -> object:
    def fetch(update: QueuedUpdate) -> Decoded:
        if isinstance(fetched, BaseException):
            raise fetched
        return fetched

    return screen(UPDATE, CURRENT, 3, make_strategy("fedasync"), FixedValidator(), Score(1.0, 0.5), RewardPolicy(),
                  fetch, "t")


@pytest.mark.parametrize("failure, reason, detail", [
    (PayloadSizeError("covers 2147483648 chunks"), RejectReason.SIZE_MISMATCH, "2147483648"),
    (MemoryError(), RejectReason.UNREADABLE, "MemoryError"),
    (OverflowError("cannot fit 'int' into an index-sized integer"), RejectReason.UNREADABLE, "OverflowError"),
    (KeyError("surprise"), RejectReason.UNREADABLE, "KeyError: 'surprise'"),
])
def test_any_failure_of_the_fetch_is_a_rejection(failure: BaseException, reason: RejectReason, detail: str) -> None:
    screened = run_screen(failure)
    assert screened.reason is reason and detail in screened.detail


@pytest.mark.parametrize("metadata, named", [
    (update_metadata("t", "0x" + "99" * 20, 2), "client"),
    (update_metadata("t", CLIENT, 1), "base_version"),
    (update_metadata("other-training", CLIENT, 2), "training"),
    ({}, "client"),
])
def test_a_payload_naming_someone_else_is_foreign(metadata: dict, named: str) -> None:
    screened = run_screen(Decoded([np.ones((2, 2), np.float32)], metadata))
    assert screened.reason is RejectReason.FOREIGN_UPDATE and named in screened.detail


def test_a_payload_naming_its_sender_in_any_case_is_measured() -> None:
    screened = run_screen(Decoded([np.ones((2, 2), np.float32)], update_metadata("t", CLIENT.lower(), 2)))
    assert screened.reason is None and screened.score == Score(0.5, 0.9)
