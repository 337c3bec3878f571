"""Waits on the chain end on the training's logs (a websocket subscription at the node), with
polling as the fallback: on a real Anvil, against the same wait with polling only."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from kafkaml.ledger import AggregatorLedger, TrainerLedger, UpdateOutcome, doorbell
from kafkaml.ledger.doorbell import LogDoorbell, websocket_url
from kafkaml.processes import free_port
from tests.integration.ledger_fixtures import deploy, digest, key_of, update_pointer


def submit_later(training, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: training.submit(0, digest("late")))
    timer.start()
    return timer


def accept(training, content_hash: bytes) -> int:
    """A round that accepts client 0's queued update ``content_hash``."""
    client = training.clients[0].account
    return training.round(UpdateOutcome(content_hash, True, 1, client=client, pointer=update_pointer(0, client)))


def seconds_to_see_a_submission(aggregator: AggregatorLedger, training, after_s: float) -> float:
    timer = submit_later(training, after_s)
    started = time.monotonic()
    try:
        assert len(aggregator.wait_for_updates(1, timeout_s=30)) == 1
    finally:
        timer.join()
    return time.monotonic() - started


def test_the_aggregator_sees_a_submission_at_once_and_polling_alone_later(local_stack, monkeypatch):
    """A submission 1.7 s into the wait: the back-off's polls (0.05, 0.1, 0.2, 0.4, 0.8 s apart)
    next look at 3.15 s, the subscription at once."""
    subscribed = deploy(local_stack)
    assert seconds_to_see_a_submission(subscribed.aggregator, subscribed, 1.7) < 2.9
    monkeypatch.setenv("KAFKAML_ETH_WS_URL", "none")
    polled = deploy(local_stack)
    polling = AggregatorLedger.open(local_stack.chain.address, polled.aggregator.address, key_of(polled.aggregator))
    assert seconds_to_see_a_submission(polling, polled, 1.7) >= 3.1


def test_a_trainer_wakes_on_the_next_version_and_a_quiet_wait_lasts_its_timeout(local_stack):
    t = deploy(local_stack)
    trainer: TrainerLedger = t.clients[0]
    started = time.monotonic()
    assert trainer.wait_for_event(0.5) is False
    assert time.monotonic() - started >= 0.45
    update = digest("update")
    t.submit(0, update)
    timer = threading.Timer(0.3, lambda: accept(t, update))
    timer.start()
    started = time.monotonic()
    try:
        assert trainer.wait_for_event(10.0) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 3.0
    assert trainer.latest_version().version == 1


def test_a_burst_of_logs_is_one_ring(local_stack):
    """One round emits several logs; they end one wait, not one wait each."""
    t = deploy(local_stack)
    trainer = t.clients[0]
    assert trainer.wait_for_event(0.2) is False  # subscribes
    update = digest("update")
    t.submit(0, update)
    accept(t, update)
    time.sleep(0.3)
    assert trainer.wait_for_event(5.0) is True
    started = time.monotonic()
    assert trainer.wait_for_event(0.4) is False
    assert time.monotonic() - started >= 0.35


def test_without_a_websocket_the_wait_polls_and_says_so_once(local_stack, caplog):
    closed = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    bell = LogDoorbell(closed, "0x" + "00" * 20, "ws://127.0.0.1")
    with caplog.at_level(logging.INFO, logger="kafkaml.ledger.doorbell"):
        for _ in range(2):
            started = time.monotonic()
            assert bell.wait(0.3) is False
            assert time.monotonic() - started >= 0.29
    assert [r.getMessage() for r in caplog.records if "polling instead" in r.getMessage()] == [
        "no websocket subscriptions (ConnectionRefusedError) at ws://127.0.0.1; polling instead"]


def test_a_dropped_subscription_falls_back_then_subscribes_again(local_stack, monkeypatch):
    monkeypatch.setattr(doorbell, "RECONNECT_AFTER_S", 0.0)
    t = deploy(local_stack)
    trainer = t.clients[0]
    assert trainer.wait_for_event(0.1) is False
    trainer._doorbell._connection.close()  # as when the node restarts
    started = time.monotonic()
    assert trainer.wait_for_event(0.3) is False
    assert time.monotonic() - started >= 0.25
    timer = threading.Timer(0.5, lambda: t.submit(0, digest("update")))
    timer.start()
    try:
        assert trainer.wait_for_event(10.0) is True
    finally:
        timer.join()


@pytest.mark.parametrize(("rpc", "configured", "expected"), [
    ("http://anvil:8545", "", "ws://anvil:8545"),
    ("https://node.example/v3/key", "", "wss://node.example/v3/key"),
    ("http://geth:8545", "ws://geth:8546", "ws://geth:8546"),
    ("http://anvil:8545", "none", None),
    ("ipc:///tmp/geth.ipc", "", None),
])
def test_the_websocket_url(rpc, configured, expected):
    assert websocket_url(rpc, configured) == expected
