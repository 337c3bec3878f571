"""The Python ledger client on a real chain: concurrency, idempotency, waiting, secrecy of keys."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kafkaml.ledger import Ledger, LedgerError, LedgerUnavailable, UpdateOutcome, WrongPhase, transactions
from kafkaml.ledger.events import pack_update
from kafkaml.ledger.transactions import Rpc
from kafkaml.local.processes import free_port
from tests.integration.ledger_fixtures import deploy, digest, global_pointer, update_pointer


def test_several_transactions_in_flight_from_one_key(local_stack):
    t = deploy(local_stack)
    client = t.clients[0]
    hashes = [digest("parallel") for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda h: client.submit_update(0, h, update_pointer(0), 10), hashes))
    # A second client object for the same key (another component of the same job) shares no
    # nonce counter with the first: it must notice and resynchronise.
    twin = Ledger.open(
        local_stack.chain.address, t.aggregator.address, local_stack.account("client-1").private_key()
    )
    more = [digest("twin") for _ in range(2)]
    twin.submit_update(0, more[0], update_pointer(0), 10)
    stale = client.sender._next_nonce
    client.submit_update(0, more[1], update_pointer(0), 10)
    assert client.sender._next_nonce == stale + 2  # resynchronised past the twin's transaction
    # Sent without waiting, then awaited together.
    sender = client.sender
    data = [
        client.contract.encode_abi("submitUpdateTo", args=[digest("batch"), pack_update(0, 5, 0, 0, 1), "t"])
        for _ in range(3)
    ]
    pending = [sender.send({"to": client.address, "data": d}, "batch") for d in data]
    assert len({p.nonce for p in pending}) == 3
    assert all(sender.wait(p)["status"] == 1 for p in pending)
    queued = t.aggregator.pending_updates()
    assert len(queued) == 11 and t.aggregator.queue_size() == 11
    assert set(hashes + more) <= {u.content_hash for u in queued}
    assert [u.seq for u in queued] == list(range(11))


def test_a_restarted_client_process_does_not_submit_again(local_stack, tmp_path):
    t = deploy(local_stack)
    account = local_stack.account("client-1")
    update = digest("restart")
    script = (
        "import sys\n"
        "from kafkaml.ledger import Ledger\n"
        "from tests.integration.ledger_fixtures import update_pointer\n"
        "ledger = Ledger.open(sys.argv[1], sys.argv[2])\n"  # key from ETH_WALLET_KEY_FILE
        "print(ledger.submit_update(0, bytes.fromhex(sys.argv[3]), update_pointer(0), 77).seq)\n"
    )
    env = {**os.environ, "ETH_WALLET_KEY_FILE": str(account.key_file), "PYTHONPATH": os.getcwd()}
    w3 = t.aggregator.rpc.w3
    nonce_before = w3.eth.get_transaction_count(account.address)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, local_stack.chain.address, t.aggregator.address, update.hex()],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    assert [r.stdout.strip() for r in runs] == ["0", "0"]
    assert w3.eth.get_transaction_count(account.address) == nonce_before + 1
    assert [u.content_hash for u in t.aggregator.pending_updates()] == [update]


def test_record_round_repeated_after_a_restart_sends_nothing(local_stack):
    t = deploy(local_stack)
    update, new_global = digest("u"), digest("g")
    t.submit(0, update)
    outcomes = [UpdateOutcome(update, True, 9)]
    assert t.aggregator.record_round(new_global, global_pointer(1), outcomes) == 1
    block = t.aggregator.rpc.block_number()
    again = Ledger.open(
        local_stack.chain.address, t.aggregator.address, local_stack.account("platform").private_key()
    )
    assert again.record_round(new_global, global_pointer(1), outcomes) == 1
    assert again.rpc.block_number() == block
    assert again.rewards_of(t.clients[0].account) == 9


def test_wait_for_updates_backs_off_and_wakes_on_a_submission(local_stack, monkeypatch):
    t = deploy(local_stack)
    calls = 0
    rpc_call = Rpc.__call__

    def counting(self, fn):  # counts the RPC round trips, then makes them for real
        nonlocal calls
        calls += 1
        return rpc_call(self, fn)

    with monkeypatch.context() as patch:
        patch.setattr(Rpc, "__call__", counting)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            t.aggregator.wait_for_updates(1, timeout_s=3.0)
        assert time.monotonic() - started >= 3.0
        assert calls < 40, f"{calls} RPC calls in 3 s: a busy loop"
    update = digest("late")
    timer = threading.Timer(0.5, lambda: t.submit(1, update))
    timer.start()
    try:
        assert [u.content_hash for u in t.aggregator.wait_for_updates(1, timeout_s=30)] == [update]
    finally:
        timer.join()
    t.aggregator.finish()
    with pytest.raises(WrongPhase):
        t.aggregator.wait_for_updates(2, timeout_s=5)


def test_the_private_key_never_appears_in_logs_or_errors(local_stack, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    account = local_stack.account("platform")
    key = account.private_key()
    monkeypatch.setenv("ETH_WALLET_KEY", key)
    token = Ledger.deploy_token(local_stack.chain.address)  # the key from the environment
    ledger = Ledger.deploy(
        local_stack.chain.address,
        token_address=token,
        settings_hash=digest("s"),
        weights_topic="test-weights",
        strategy="fedavg",
        rounds=2,
    )
    texts = [repr(ledger), repr(ledger.sender)]
    with pytest.raises(WrongPhase) as reverted:
        ledger.finish()
    with pytest.raises(LedgerError) as bad_key:
        Ledger.open(local_stack.chain.address, ledger.address, key[:-2] + "zz")
    texts += [str(reverted.value), str(bad_key.value), caplog.text]
    assert "created training" in caplog.text  # the log was captured at all
    bare = key.removeprefix("0x")
    assert not [text for text in texts if bare in text or bare.upper() in text]


def test_opening_nothing_or_an_unreachable_node_fails_clearly(local_stack):
    key = local_stack.account("platform").private_key()
    with pytest.raises(LedgerError, match="no contract"):
        Ledger.open(local_stack.chain.address, "0x" + "42" * 20, key)
    t = deploy(local_stack)
    reader = Ledger.reader(local_stack.chain.address, t.aggregator.address)
    assert reader.latest_version().version == 0
    with pytest.raises(LedgerError, match="read-only"):
        reader.finish()
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable, match="did not answer"):
        Rpc(dead, retry_s=1.0).block_number()
    assert 1.0 <= time.monotonic() - started < 10


def test_fees_are_reused_briefly_then_read_again(local_stack, monkeypatch):
    t = deploy(local_stack)
    sender = t.clients[0].sender
    reads = []
    current = sender._current_fees
    monkeypatch.setattr(sender, "_current_fees", lambda: reads.append(1) or current())
    monkeypatch.setattr(transactions, "FEE_REUSE_S", 0.5)
    sender._fees_until = 0.0
    for n in range(3):
        t.clients[0].submit_update(0, digest(f"fee-{n}"), update_pointer(0), 10)
    assert len(reads) == 1  # one read for three transactions in quick succession
    time.sleep(0.6)
    t.clients[0].submit_update(0, digest("fee-late"), update_pointer(0), 10)
    assert len(reads) == 2


def test_a_client_learns_when_its_update_is_consumed(local_stack):
    t = deploy(local_stack)
    update = digest("mine")
    assert not t.clients[0].is_consumed(update)  # unknown
    t.submit(0, update)
    assert not t.clients[0].is_consumed(update)  # queued
    t.round(UpdateOutcome(update, True, 1))
    assert t.clients[0].is_consumed(update)


def test_latest_version_waits_for_a_node_that_serves_the_logs_late(local_stack, monkeypatch):
    t = deploy(local_stack)
    reader = Ledger.reader(local_stack.chain.address, t.aggregator.address)
    read = reader._events.read
    answers = []

    def late(start, end):  # the first two answers lack the block's logs, as a lagging replica's would
        answers.append(start)
        return [] if len(answers) <= 2 else read(start, end)

    monkeypatch.setattr(reader._events, "read", late)
    assert reader.latest_version().version == 0
    assert answers.count(answers[0]) == 3  # two empty answers for the block, then its logs
    reader.rpc.retry_s = 0.2
    reader._latest = None
    monkeypatch.setattr(reader._events, "read", lambda start, end: [])
    with pytest.raises(LedgerError, match="serves no GlobalVersionPublished"):
        reader.latest_version()
