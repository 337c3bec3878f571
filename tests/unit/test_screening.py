"""Screening one queued update: every failure is a rejection with a reason, never an exception."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kafkaml.pointers import WeightsPointer
from kafkaml.rewards import RejectReason, RewardPolicy
from kafkaml.strategies import make_strategy
from kafkaml.weights.codec import Decoded, update_metadata
from kafkaml.weights.transport import PayloadSizeError, WeightsIntegrityError
from training_worker.coordination.base import QueuedUpdate
from training_worker.evaluation import Score
from training_worker.rounds import RoundResult, run_round, screen

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


OTHER = "0x" + "bb" * 20


def queued(client: str, base: int = 3) -> QueuedUpdate:
    """An update of ``client`` in its own topic, all with the same content hash."""
    return QueuedUpdate(client, base, UPDATE.content_hash, WeightsPointer(f"kml-weights-t.{client.lower()}", 0, 0, 1),
                        10)


def play_round(queue: list[QueuedUpdate], strategy: str, params: dict, payloads: dict[str, Decoded],
               accepted_before: frozenset[bytes] = frozenset()) -> tuple[RoundResult, list[str]]:
    """One round over ``queue``; each client's payload is ``payloads[client]``. Returns which were fetched."""
    fetched: list[str] = []

    def fetch(update: QueuedUpdate) -> Decoded:
        fetched.append(update.client)
        payload = payloads[update.client]
        if isinstance(payload, BaseException):
            raise payload
        return payload

    result = run_round(queue, CURRENT, 3, make_strategy(strategy, params), FixedValidator(), Score(1.0, 0.5),
                       RewardPolicy(), fetch, lambda n: CURRENT, {}, "t", accepted_before)
    return result, fetched


def genuine(client: str) -> Decoded:
    return Decoded([np.ones((2, 2), np.float32)], update_metadata("t", client, 3))


def test_a_copied_hash_is_a_duplicate_unfetched_and_unpaid() -> None:
    """[A(H), B(H)] under FedAvg K=2: B is a duplicate (not even fetched); the round waits for another."""
    result, fetched = play_round([queued(CLIENT), queued(OTHER)], "fedavg", {"updates": 2},
                                 {CLIENT: genuine(CLIENT), OTHER: genuine(CLIENT)})
    assert result.weights is None and fetched == [CLIENT]
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [(OTHER, False, "duplicate_update")]
    third = "0x" + "cc" * 20
    later = replace(queued(third), content_hash=b"\x03" * 32)
    result, _ = play_round([queued(CLIENT), queued(OTHER), later], "fedavg", {"updates": 2},
                           {CLIENT: genuine(CLIENT), OTHER: genuine(CLIENT), third: genuine(third)})
    assert [(o.client, o.accepted, o.reward > 0) for o in result.outcomes] == [
        (CLIENT, True, True), (OTHER, False, False), (third, True, True)]
    assert [o.pointer for o in result.outcomes] == [u.pointer for u in (queued(CLIENT), queued(OTHER), later)]


def test_a_hash_accepted_in_an_earlier_round_is_a_duplicate() -> None:
    result, fetched = play_round([queued(OTHER)], "fedasync", {}, {OTHER: genuine(OTHER)},
                                 accepted_before=frozenset({UPDATE.content_hash}))
    assert result.weights is None and not fetched
    assert result.screened[0].reason is RejectReason.DUPLICATE_UPDATE and "earlier round" in result.screened[0].detail


def test_junk_under_a_copied_hash_does_not_decide_the_genuine_update() -> None:
    """[B(H, junk), A(H, real)] under FedAsync: each submission is fetched and judged on its own."""
    result, fetched = play_round([queued(OTHER), queued(CLIENT)], "fedasync", {},
                                 {OTHER: WeightsIntegrityError("not the submitted hash"), CLIENT: genuine(CLIENT)})
    assert fetched == [OTHER, CLIENT] and result.weights is not None
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [
        (OTHER, False, "hash_mismatch"), (CLIENT, True, "")]
