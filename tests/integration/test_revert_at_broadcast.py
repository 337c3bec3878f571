"""A transaction whose estimate passed but which reverts when the node runs it (the training
finished in between) raises the contract's typed error on both local nodes: Anvil mines it and
its receipt says it failed; Hardhat's node runs it as it receives it and answers the revert to
the broadcast itself. Either way the sender's next transaction goes through with the right nonce.
A trainer relies on this to end cleanly when the last round closes the training under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaml.ledger import WrongPhase
from kafkaml.local import stack as local
from tests.integration.ledger_fixtures import deploy, digest, update_pointer


@pytest.fixture(params=["anvil", "hardhat"])
def chain_of(request, tmp_path: Path) -> Iterator[local.Stack]:
    """A stack of its own: the test empties a client account (the session's stack shares them)."""
    stack = local.up(2, tmp_path / "stack", chain_node=request.param)
    try:
        yield stack
    finally:
        local.down(tmp_path / "stack")


def test_a_revert_found_only_by_the_node_is_the_contracts_typed_error(chain_of, monkeypatch) -> None:
    t = deploy(chain_of)
    client = t.clients[0]
    t.aggregator.finish()
    # As if the estimate had run a moment earlier, while the training was still active.
    monkeypatch.setattr(client.sender, "_estimate", lambda _request: 300_000)
    with pytest.raises(WrongPhase):
        client.submit_update(0, digest("late"), update_pointer(0, client.account), 10)
    assert client.sender.sweep(t.outsider.account) > 0, "the sender's next transaction went through"
