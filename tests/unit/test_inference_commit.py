"""The worker commits no offset past an input it still holds, even when an input after it was
answered before a restart (the answered inputs past the committed offset need not be contiguous
for that to hold). Background commits are spaced by COMMIT_INTERVAL_S; the one at stop is not."""

from __future__ import annotations

from kafka import TopicPartition

from inference_worker.settings import load_job
from inference_worker.worker import COMMIT_INTERVAL_S, Answering, Input
from tests.unit.test_inference_settings import JOB

TP = TopicPartition("in", 0)


class Commits:
    """The consumer's commit calls, as the worker makes them."""

    def __init__(self) -> None:
        self.made: list[dict[TopicPartition, int]] = []
        self.waited: list[dict[TopicPartition, int]] = []

    def commit(self, *, offsets, asynchronous: bool) -> None:
        made = {TopicPartition(entry.topic, entry.partition): entry.offset for entry in offsets}
        (self.made if asynchronous else self.waited).append(made)


def record(offset: int) -> Input:
    return Input(TP, offset, b"k", b"\0" * 24)


def test_an_answered_input_after_one_in_hand_does_not_commit_it() -> None:
    job, codec = load_job(JOB.environment())
    answering = Answering(job, codec, predictor=None, producer=None, reader=None)
    answering.consumer = commits = Commits()
    answering.next_offset[TP], answering.answered[TP] = 10, {11, 13}
    for offset in (10, 11, 12, 13):
        answering.take(record(offset))
    assert [r.offset for r in answering.batch] == [10, 12]
    answering.commit()
    assert commits.made == [{TP: 10}]
    answering.batch = []  # 10 and 12 answered: the commit goes past all four
    answering.committed_at -= COMMIT_INTERVAL_S
    answering.commit()
    assert commits.made[-1] == {TP: 14}


def test_background_commits_are_spaced_and_the_last_one_waits_for_nothing() -> None:
    job, codec = load_job(JOB.environment())
    answering = Answering(job, codec, predictor=None, producer=None, reader=None)
    answering.consumer = commits = Commits()
    answering.next_offset[TP], answering.answered[TP] = 0, set()
    answering._advance(TP, 0)
    answering.commit()
    answering._advance(TP, 1)
    answering.commit()  # within COMMIT_INTERVAL_S of the first: left for later
    assert commits.made == [{TP: 1}]
    answering.committed_at -= COMMIT_INTERVAL_S
    answering.commit()
    assert commits.made == [{TP: 1}, {TP: 2}]
    answering._advance(TP, 2)
    answering.commit(wait=True)  # stopping: committed at once, whatever the interval
    assert commits.waited == [{TP: 3}]
