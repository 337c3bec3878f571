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
from web3 import Web3

from kafkaml.ledger import (
    AggregatorLedger,
    InvalidVerdict,
    LedgerError,
    LedgerUnavailable,
    PlatformLedger,
    TrainerLedger,
    TrainingReader,
    Unauthorized,
    UpdateOutcome,
    WrongPhase,
    transactions,
)
from kafkaml.ledger.transactions import Rpc
from kafkaml.processes import free_port
from tests.integration.ledger_fixtures import deploy, digest, global_pointer, key_of


def newcomers(count: int) -> list[str]:
    """Addresses nobody holds, to register as clients (a transaction the aggregator may repeat)."""
    return [Web3.to_checksum_address(digest("newcomer")[:20]) for _ in range(count)]


def test_several_transactions_in_flight_from_one_key(local_stack):
    t = deploy(local_stack)
    aggregator = t.aggregator  # a client has one update pending at most; the aggregator registers many
    first = newcomers(6)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda address: aggregator.register_clients({address: 5}), first))
    # A second client object for the same key (another component of the same job) shares no
    # nonce counter with the first: it must notice and resynchronise.
    twin = AggregatorLedger.open(local_stack.chain.address, aggregator.address, key_of(aggregator))
    more = newcomers(2)
    twin.register_clients({more[0]: 5})
    stale = aggregator.sender._next_nonce
    aggregator.register_clients({more[1]: 5})
    assert aggregator.sender._next_nonce == stale + 2  # resynchronised past the twin's transaction
    # Sent without waiting, then awaited together.
    sender = aggregator.sender
    batch = newcomers(3)
    data = [aggregator.contract.encode_abi("registerClients", args=[[address], [5]]) for address in batch]
    pending = [sender.send({"to": aggregator.address, "data": d}, "batch") for d in data]
    assert len({p.nonce for p in pending}) == 3
    assert all(sender.wait(p)["status"] == 1 for p in pending)
    registered = aggregator.clients()
    assert len(registered) == 2 + 11
    assert registered[:2] == [c.account for c in t.clients]
    assert set(registered[2:]) == set(first + more + batch)
    assert registered[-3:] == batch  # sent in nonce order, mined in nonce order


def test_a_restarted_client_process_does_not_submit_again(local_stack, tmp_path):
    t = deploy(local_stack)
    account = local_stack.account("client-1")
    update = digest("restart")
    script = (
        "import sys\n"
        "from kafkaml.ledger import TrainerLedger\n"
        "from tests.integration.ledger_fixtures import update_pointer\n"
        "ledger = TrainerLedger.open(sys.argv[1], sys.argv[2])\n"  # key from ETH_WALLET_KEY_FILE
        "print(ledger.submit_update(0, bytes.fromhex(sys.argv[3]), update_pointer(0, ledger.account), 77).seq)\n"
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
    again = AggregatorLedger.open(local_stack.chain.address, t.aggregator.address, key_of(t.aggregator))
    assert again.record_round(new_global, global_pointer(1), outcomes) == 1
    assert again.rpc.block_number() == block
    assert again.rewards_of(t.clients[0].account) == 9


def test_rejections_leave_the_queue_without_a_version_so_their_clients_submit_again(local_stack):
    """A round that waits for more updates records the rejected ones at the queue's head: their
    clients' places are free (no UpdatePending), no version is published, and the verdicts belong
    to the next version in the history. Only rejections, only from the head, and a repeat after a
    restart sends nothing."""
    t = deploy(local_stack)
    bad, good = digest("bad"), digest("good")
    t.submit(0, bad)
    t.submit(1, good)
    with pytest.raises(ValueError, match="rejected updates only"):
        t.aggregator.record_rejections([UpdateOutcome(bad, True, 0)])
    with pytest.raises(LedgerError, match="head of the queue"):
        t.aggregator.record_rejections([UpdateOutcome(good, False, reason="worse_than_threshold")])
    with pytest.raises(InvalidVerdict):  # the contract itself refuses a reward among rejections
        t.aggregator._transact("recordRejections", [[(t.clients[0].account, (0).to_bytes(32, "big"))]], "a reward")
    rejections = [UpdateOutcome(bad, False, reason="hash_mismatch")]
    assert t.aggregator.record_rejections(rejections) == 1
    block = t.aggregator.rpc.block_number()
    assert t.aggregator.record_rejections(rejections) == 0 and t.aggregator.rpc.block_number() == block
    assert t.aggregator.latest_version().version == 0
    assert [u.content_hash for u in t.aggregator.pending_updates()] == [good]
    again = digest("again")
    t.submit(0, again)  # client 0's place is free again
    assert t.round(UpdateOutcome(good, True, 5), UpdateOutcome(again, True, 5)) == 1
    (version,) = t.aggregator.history().versions[1:]
    assert [(u.content_hash, u.accepted, u.reason) for u in version.updates] == [
        (bad, False, "hash_mismatch"), (good, True, ""), (again, True, "")]


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
    token = PlatformLedger.deploy_token(local_stack.chain.address)  # the key from the environment
    address = PlatformLedger.create_training(
        local_stack.chain.address,
        token_address=token,
        aggregator=local_stack.account("client-3").address,
        settings_hash=digest("s"),
        weights_topic="test-weights",
        strategy="fedavg",
        rounds=2,
        budget=10,
    )
    ledger = AggregatorLedger.open(local_stack.chain.address, address)  # the admin's key, from the environment
    texts = [repr(ledger), repr(ledger.sender)]
    with pytest.raises(Unauthorized) as reverted:  # the admin may not act on the training
        ledger.finish()
    with pytest.raises(LedgerError) as bad_key:
        AggregatorLedger.open(local_stack.chain.address, ledger.address, key[:-2] + "zz")
    texts += [str(reverted.value), str(bad_key.value), caplog.text]
    assert "created training" in caplog.text  # the log was captured at all
    bare = key.removeprefix("0x")
    assert not [text for text in texts if bare in text or bare.upper() in text]


def test_opening_nothing_or_an_unreachable_node_fails_clearly(local_stack):
    key = local_stack.account("platform").private_key()
    with pytest.raises(LedgerError, match="no contract"):
        TrainerLedger.open(local_stack.chain.address, "0x" + "42" * 20, key)
    t = deploy(local_stack)
    reader = TrainingReader.open(local_stack.chain.address, t.aggregator.address)
    assert reader.latest_version().version == 0
    assert not [name for name in ("finish", "submit_update", "_transact", "sender") if hasattr(reader, name)]  # it cannot send
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable, match="did not answer"):
        Rpc(dead, retry_s=1.0).block_number()
    assert 1.0 <= time.monotonic() - started < 10


def test_fees_are_reused_briefly_then_read_again(local_stack, monkeypatch):
    t = deploy(local_stack)
    sender = t.aggregator.sender
    reads = []
    current = sender._current_fees
    monkeypatch.setattr(sender, "_current_fees", lambda: reads.append(1) or current())
    monkeypatch.setattr(transactions, "FEE_REUSE_S", 0.5)
    sender._fees_until = 0.0
    for address in newcomers(3):
        t.aggregator.register_clients({address: 1})
    assert len(reads) == 1  # one read for three transactions in quick succession
    time.sleep(0.6)
    t.aggregator.register_clients({newcomers(1)[0]: 1})
    assert len(reads) == 2


def test_a_client_learns_when_its_update_is_consumed(local_stack, monkeypatch):
    t = deploy(local_stack)
    client = t.clients[0]
    update = digest("mine")
    assert not client.has_pending()  # nothing submitted
    t.submit(0, update)
    assert client.has_pending() and not t.clients[1].has_pending()
    assert t.clients[1].has_pending(client.account)  # anyone may ask about any account
    t.round(UpdateOutcome(update, True, 1))
    assert not client.has_pending()  # consumed: the next update may follow
    calls = 0
    rpc_call = Rpc.__call__

    def counting(self, fn):
        nonlocal calls
        calls += 1
        return rpc_call(self, fn)

    monkeypatch.setattr(Rpc, "__call__", counting)
    client.has_pending()
    assert calls == 1  # one call, however long the training


def test_latest_version_waits_for_a_node_that_serves_the_logs_late(local_stack, monkeypatch):
    t = deploy(local_stack)
    reader = TrainingReader.open(local_stack.chain.address, t.aggregator.address)
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
