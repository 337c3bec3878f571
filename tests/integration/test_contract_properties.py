"""Queue order and reward accounting hold over random sequences of submissions and rounds.

Hypothesis drives a fresh training on the real chain through random operations (submissions
from either client with current, stale, future or duplicate content, rounds of 1-3 updates with
random verdicts, and rounds that try to skip the queue head) and checks after every step that
the contract's queue and rewards equal a plain Python model's, then that the payout mints
exactly what was credited and that the rebuilt history says the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkaml.ledger import DuplicateUpdate, Ledger, StaleRecord, UnknownBaseVersion, UpdateOutcome
from kafkaml.ledger.events import pack_update
from tests.integration.ledger_fixtures import deploy, global_pointer, update_pointer

HASH_POOL = 6  # few distinct hashes, so duplicates are frequent

submit_op = st.tuples(
    st.just("submit"),
    st.integers(0, 1),
    st.integers(0, HASH_POOL - 1),
    st.sampled_from(["latest", "older", "future"]),
)
verdict = st.tuples(st.booleans(), st.integers(0, 5))
round_op = st.tuples(st.just("round"), st.lists(verdict, min_size=1, max_size=3))
skip_op = st.tuples(st.just("skip"))
operations = st.lists(st.one_of(submit_op, submit_op, round_op, skip_op), min_size=1, max_size=10)


@dataclass
class Model:
    version: int = 0
    queue: list[tuple[bytes, int, int]] = field(default_factory=list)  # (hash, client, base)
    used: set[bytes] = field(default_factory=set)
    earned: list[int] = field(default_factory=lambda: [0, 0])
    outcomes: dict[bytes, tuple[int, int, bool, int]] = field(
        default_factory=dict
    )  # version, base, accepted, reward


def content(number: int) -> bytes:
    return hashlib.sha256(f"update-{number}".encode()).digest()


@pytest.fixture(scope="module")
def token(local_stack):
    return Ledger.deploy_token(local_stack.chain.address, local_stack.account("platform").private_key())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_queue_and_rewards_match_a_model(local_stack, token, ops):
    t = deploy(local_stack, rounds=100, token=token)
    before = [t.aggregator.token_balance(c.account) for c in t.clients]  # the token outlives trainings
    model = Model()
    for op in ops:
        if op[0] == "submit":
            _submit(t, model, *op[1:])
        elif op[0] == "round":
            _round(t, model, op[1])
        else:
            _skip(t, model)
        _check(t, model)
    t.aggregator.finish()
    t.aggregator.pay_rewards()
    minted = [t.aggregator.token_balance(c.account) - b for c, b in zip(t.clients, before, strict=True)]
    assert minted == model.earned
    audit = t.aggregator.history()
    assert [v.version for v in audit.versions] == list(range(model.version + 1))
    seen = {
        u.content_hash: (u.version, u.base_version, u.accepted, u.reward)
        for v in audit.versions
        for u in v.updates
    }
    assert seen == model.outcomes
    assert all(u.staleness == u.version - 1 - u.base_version for v in audit.versions for u in v.updates)
    assert [u.content_hash for u in audit.pending] == [q[0] for q in model.queue]
    assert sum(audit.paid.values()) == sum(audit.earned.values()) == sum(model.earned)


def _submit(t, model: Model, client: int, number: int, base_kind: str) -> None:
    update = content(number)
    base = {"latest": model.version, "older": max(0, model.version - 1), "future": model.version + 1}[
        base_kind
    ]
    ledger = t.clients[client]
    if update in model.used:
        owner = next((q[1] for q in model.queue if q[0] == update), None)
        if owner == client:  # the client's own pending update: returned, not sent again
            assert ledger.submit_update(base, update, update_pointer(client), 50).content_hash == update
        else:  # (with a valid base version: the contract checks the base before the hash)
            with pytest.raises(DuplicateUpdate):
                ledger._transact(
                    "submitUpdateTo", [update, pack_update(model.version, 50, 0, 0, 1), "t"], "duplicate"
                )
        return
    if base_kind == "future":
        with pytest.raises(UnknownBaseVersion):
            ledger.submit_update(base, update, update_pointer(client), 50)
        return
    ledger.submit_update(base, update, update_pointer(client), 50)
    model.used.add(update)
    model.queue.append((update, client, base))


def _round(t, model: Model, verdicts: list[tuple[bool, int]]) -> None:
    taken = model.queue[: len(verdicts)]
    if not taken:
        return
    outcomes = [
        UpdateOutcome(h, accepted, reward if accepted else 0, "" if accepted else "rejected")
        for (h, _, _), (accepted, reward) in zip(taken, verdicts, strict=False)
    ]
    new_version = t.aggregator.record_round(
        content(1000 + model.version), global_pointer(model.version + 1), outcomes
    )
    model.version += 1
    assert new_version == model.version
    for (h, client, base), outcome in zip(taken, outcomes, strict=True):
        model.earned[client] += outcome.reward
        model.outcomes[h] = (model.version, base, outcome.accepted, outcome.reward)
    del model.queue[: len(taken)]


def _skip(t, model: Model) -> None:
    if len(model.queue) < 2:
        return
    with pytest.raises(StaleRecord):
        t.aggregator.record_round(
            content(999), global_pointer(1), [UpdateOutcome(model.queue[1][0], True, 1)]
        )


def _check(t, model: Model) -> None:
    assert t.aggregator.queue_size() == len(model.queue)
    pending = t.aggregator.pending_updates()
    assert [(u.content_hash, u.client, u.base_version) for u in pending] == [
        (h, t.clients[c].account, b) for h, c, b in model.queue
    ]
    assert [u.seq for u in pending] == sorted(u.seq for u in pending)
    assert [t.aggregator.rewards_of(c.account) for c in t.clients] == model.earned
    assert t.clients[0].latest_version().version == model.version
