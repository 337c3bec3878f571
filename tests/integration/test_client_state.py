"""A trainer's poll, ``clientView``: the phase, the newest version and the client's queued update
in one call, against what the separate views answer at each step of a training on a real Anvil."""

from __future__ import annotations

from kafkaml.ledger import ClientState, Phase, UpdateOutcome
from tests.integration.ledger_fixtures import deploy, digest, global_pointer


def separate_views(t, address: str) -> ClientState:
    reader = t.aggregator
    latest = reader.latest_version() if reader.phase() != Phase.CONFIGURED else None
    return ClientState(reader.phase(), latest, reader.has_pending(address))


def test_a_clients_poll_answers_as_the_separate_views_through_a_training(local_stack):
    t = deploy(local_stack, rounds=2, start=False)
    client, other = t.clients[0], t.clients[1].account
    seen = []

    def check() -> ClientState:
        state = client.client_state(client.account)
        assert state == separate_views(t, client.account)
        assert client.client_state(other) == separate_views(t, other)
        seen.append(state)
        return state

    assert check() == ClientState(Phase.CONFIGURED, None, False)
    genesis = digest("genesis")
    t.aggregator.start(genesis, global_pointer(0), digest("announcement"))
    started = check()
    assert (started.phase, started.latest.version, started.latest.content_hash, started.pending) == (
        Phase.ACTIVE, 0, genesis, False)
    t.submit(0, first := digest("first"))
    assert check().pending and not client.client_state(other).pending
    new = digest("version-1")
    t.aggregator.record_round(new, global_pointer(1), [UpdateOutcome(first, True, 1)])
    after = check()
    assert (after.latest.version, after.latest.content_hash, after.latest.pointer, after.pending) == (
        1, new, global_pointer(1), False)
    t.aggregator.finish()
    assert check().phase == Phase.FINISHED
    assert len({state.phase for state in seen}) == 3
