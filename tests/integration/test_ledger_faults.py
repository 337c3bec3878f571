"""The ledger client rides out a chain node that dies and comes back (a private stack of its own).

Anvil is killed with SIGKILL (no chance to save state) and restarted by ``kafkaml local up``,
which reloads the state it dumped up to a second before. Calls made while it is down wait and
retry; a transaction the node lost with the crash is broadcast again from the same signed
bytes, so it lands exactly once. Anvil whatever ``KAFKAML_CHAIN_NODE`` says: Hardhat's node keeps
no state across a restart, so there is nothing for a client to ride out.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from kafkaml import processes
from kafkaml.ledger import UpdateOutcome
from kafkaml.local import stack as local
from tests.integration.ledger_fixtures import deploy, digest, global_pointer, update_pointer


@pytest.fixture
def private_stack(tmp_path: Path):
    run_dir = tmp_path / "run"
    stack = local.up(3, run_dir, chain_node="anvil")
    try:
        yield stack
    finally:
        local.down(run_dir)


def after_a_state_dump(stack: local.Stack) -> None:
    """Return just after Anvil finished one of its once-a-second state dumps.

    Anvil writes ``state.json`` in place, so a SIGKILL in the middle of a write leaves a file it
    cannot load (the local stack's limitation, not the ledger's). Crashing right after a dump
    avoids that and leaves about a second in which new transactions exist only in memory.
    """
    state = stack.run_dir / "chain" / "state.json"
    seen = state.stat().st_mtime_ns
    deadline = time.monotonic() + 5
    while state.stat().st_mtime_ns == seen:
        assert time.monotonic() < deadline, "Anvil stopped dumping its state"
        time.sleep(0.01)
    time.sleep(0.05)


def crash_chain(stack: local.Stack) -> None:
    """SIGKILL our own private stack's Anvil and wait until it is gone and its port is free."""
    chain = local.load(stack.run_dir).chain
    os.killpg(chain.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes.is_running(chain.pid) or not _port_free(chain.port):
        assert time.monotonic() < deadline, "the killed chain did not go away"
        time.sleep(0.05)


def _port_free(port: int) -> bool:
    try:
        processes.ensure_port_free(port, "chain")
    except processes.PortTaken:
        return False
    return True


def test_client_survives_a_chain_restart_mid_run(private_stack, caplog):
    caplog.set_level(logging.INFO, logger="kafkaml.ledger")
    t = deploy(private_stack)
    first = digest("before")
    t.submit(0, first)
    time.sleep(1.1)
    after_a_state_dump(private_stack)  # these blocks are persisted, as a real node would have them
    crash_chain(private_stack)

    second = digest("during")
    results: dict[str, object] = {}

    def submit_while_down() -> None:
        try:
            results["update"] = t.clients[1].submit_update(
                0, second, update_pointer(1, t.clients[1].account), 10
            )
        except Exception as exc:  # reported below with the test's assertion
            results["error"] = exc

    worker = threading.Thread(target=submit_while_down)
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive(), f"the client gave up while the node was down: {results}"
    local.up(3, private_stack.run_dir, chain_node="anvil")
    worker.join(timeout=60)
    assert "error" not in results, results
    queued = t.aggregator.pending_updates()
    assert [u.content_hash for u in queued] == [first, second]
    time.sleep(1.1)

    # A transaction mined just before the crash may be lost with the un-dumped state:
    # waiting for its receipt broadcasts the same bytes again; it lands exactly once.
    sender = t.aggregator.sender
    data = t.aggregator.contract.encode_abi(
        "recordRound",
        args=[
            digest("g"),
            3 << 64 | 6,
            [
                (t.clients[0].account, (4).to_bytes(32, "big")),
                (t.clients[1].account, b"late".ljust(32, b"\0")),
            ],
        ],
    )
    after_a_state_dump(private_stack)  # persisted again, so that only the next transaction is at risk
    pending = sender.send({"to": t.aggregator.address, "data": data}, "round before crash")
    crash_chain(private_stack)
    local.up(3, private_stack.run_dir, chain_node="anvil")
    assert sender.wait(pending)["status"] == 1
    assert "broadcasting it again" in caplog.text  # the node had really lost it
    assert t.aggregator.latest_version().version == 1 and t.aggregator.queue_size() == 0
    audit = t.aggregator.history()
    assert [len(v.updates) for v in audit.versions] == [0, 2]
    assert audit.earned == {t.clients[0].account: 4, t.clients[1].account: 0}

    # And the client objects keep working afterwards with a correct nonce sequence (the
    # round freed both clients' slots).
    assert not t.clients[0].has_pending() and not t.clients[1].has_pending()
    third = digest("after")
    t.submit(0, third)
    t.aggregator.record_round(digest("g2"), global_pointer(2), [UpdateOutcome(third, True, 1)])
    assert t.aggregator.rewards_of(t.clients[0].account) == 5
