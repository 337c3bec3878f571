"""Queue order, one pending update per client, sample ceilings and the reward budget hold over
random sequences of submissions and rounds.

Hypothesis drives a fresh training on the real chain through random operations (submissions
from either client with current, stale or future bases, sample counts around the client's
ceiling and content that repeats, within and across clients; rounds of 1-3 updates with random
verdicts and rewards that sometimes exceed the budget; and rounds that try to skip the queue
head) and checks after every step that the contract's queue, pending flags, rewards and credit
equal a plain Python model's, then that the batched payout mints exactly what was credited and
that the rebuilt history says the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkaml.ledger import (
    BudgetExceeded,
    LedgerError,
    NotQueued,
    PlatformLedger,
    UnknownBaseVersion,
    UpdateOutcome,
    UpdatePending,
)
from tests.integration.ledger_fixtures import deploy, digest, global_pointer, update_pointer

HASH_POOL = 4  # few distinct hashes, so repeats (same client, other client) are frequent
CEILINGS = (40, 1000)  # per client
BUDGET = 12  # rewards are 0-5 each: some rounds go beyond it

submit_op = st.tuples(
    st.just("submit"),
    st.integers(0, 1),
    st.integers(0, HASH_POOL - 1),
    st.sampled_from(["latest", "older", "future"]),
    st.sampled_from([1, 39, 40, 41, 999, 1000, 1001, 2**32 - 1]),
)
verdict = st.tuples(st.booleans(), st.integers(0, 5))
round_op = st.tuples(st.just("round"), st.lists(verdict, min_size=1, max_size=3))
skip_op = st.tuples(st.just("skip"))
operations = st.lists(st.one_of(submit_op, submit_op, round_op, skip_op), min_size=1, max_size=10)


@dataclass
class Queued:
    content_hash: bytes
    client: int
    base: int
    samples: int  # as the contract records it: capped to the client's ceiling


@dataclass
class Model:
    version: int = 0
    consumed: int = 0
    queue: list[Queued] = field(default_factory=list)
    submitted: set[tuple[int, bytes]] = field(default_factory=set)  # (client, hash) ever queued
    earned: list[int] = field(default_factory=lambda: [0, 0])
    # every consumed update in queue order: (client, hash, version, base, samples, accepted, reward)
    outcomes: list[tuple[int, bytes, int, int, int, bool, int]] = field(default_factory=list)

    def pending_of(self, client: int) -> Queued | None:
        return next((q for q in self.queue if q.client == client), None)


def content(number: int) -> bytes:
    return hashlib.sha256(f"update-{number}".encode()).digest()


@pytest.fixture(scope="module")
def token(local_stack):
    return PlatformLedger.deploy_token(local_stack.chain.address, local_stack.account("platform").private_key())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_queue_and_rewards_match_a_model(local_stack, token, ops):
    t = deploy(local_stack, rounds=100, token=token, register=False, budget=BUDGET)
    t.aggregator.register_clients(
        {c.account: ceiling for c, ceiling in zip(t.clients, CEILINGS, strict=True)}
    )
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
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
    t.aggregator.pay_rewards(batch=1)
    minted = [t.aggregator.token_balance(c.account) - b for c, b in zip(t.clients, before, strict=True)]
    assert minted == model.earned
    audit = t.aggregator.history()
    assert [v.version for v in audit.versions] == list(range(model.version + 1))
    accounts = [c.account for c in t.clients]
    seen = [
        (accounts.index(u.client), u.content_hash, u.version, u.base_version, u.samples, u.accepted, u.reward)
        for v in audit.versions
        for u in v.updates
    ]
    assert seen == model.outcomes
    assert all(u.staleness == u.version - 1 - u.base_version for v in audit.versions for u in v.updates)
    assert [(u.content_hash, u.client, u.samples) for u in audit.pending] == [
        (q.content_hash, accounts[q.client], q.samples) for q in model.queue
    ]
    assert sum(audit.paid.values()) == audit.credited == sum(model.earned) <= BUDGET
    assert audit.sample_ceilings == dict(zip(accounts, CEILINGS, strict=True))


def _submit(t, model: Model, client: int, number: int, base_kind: str, samples: int) -> None:
    update = content(number)
    base = {"latest": model.version, "older": max(0, model.version - 1), "future": model.version + 1}[
        base_kind
    ]
    ledger = t.clients[client]
    pointer = update_pointer(number, ledger.account)
    if (client, update) in model.submitted:  # submitted before, queued or consumed: returned, not sent again
        assert ledger.submit_update(base, update, pointer, samples).content_hash == update
        return
    if model.pending_of(client) is not None:
        with pytest.raises(UpdatePending):
            ledger.submit_update(base, update, pointer, samples)
        return
    if base_kind == "future":
        with pytest.raises(UnknownBaseVersion):
            ledger.submit_update(base, update, pointer, samples)
        return
    submitted = ledger.submit_update(base, update, pointer, samples)
    capped = min(samples, CEILINGS[client])
    assert (submitted.seq, submitted.samples) == (model.consumed + len(model.queue), capped)
    model.queue.append(Queued(update, client, base, capped))
    model.submitted.add((client, update))


def _round(t, model: Model, verdicts: list[tuple[bool, int]]) -> None:
    taken = model.queue[: len(verdicts)]
    if not taken:
        return
    outcomes = [
        UpdateOutcome(q.content_hash, accepted, reward if accepted else 0, "" if accepted else "rejected")
        for q, (accepted, reward) in zip(taken, verdicts, strict=False)
    ]
    new_global = content(1000 + model.version)
    credit = sum(o.reward for o in outcomes)
    if sum(model.earned) + credit > BUDGET:
        with pytest.raises(BudgetExceeded) as error:
            t.aggregator.record_round(new_global, global_pointer(model.version + 1), outcomes)
        assert error.value.args_by_name == {"credited": sum(model.earned) + credit, "budget": BUDGET}
        return
    new_version = t.aggregator.record_round(new_global, global_pointer(model.version + 1), outcomes)
    model.version += 1
    assert new_version == model.version
    for q, outcome in zip(taken, outcomes, strict=True):
        model.earned[q.client] += outcome.reward
        model.outcomes.append(
            (q.client, q.content_hash, model.version, q.base, q.samples, outcome.accepted, outcome.reward)
        )
    del model.queue[: len(taken)]
    model.consumed += len(taken)


def _skip(t, model: Model) -> None:
    if len(model.queue) < 2:
        return
    second = model.queue[1]
    with pytest.raises(NotQueued) as error:  # straight to the contract
        t.aggregator._transact(
            "recordRound",
            [content(999), 3 << 64 | 6, [(t.clients[second.client].account, bytes(32))]],
            "skip the head",
        )
    assert error.value.args_by_name["expectedSeq"] == model.consumed
    if second.content_hash != model.queue[0].content_hash:  # the client refuses it before sending
        with pytest.raises(LedgerError, match="not the oldest queued"):
            t.aggregator.record_round(
                content(999), global_pointer(1), [UpdateOutcome(second.content_hash, True)]
            )


def _check(t, model: Model) -> None:
    assert t.aggregator.queue_size() == len(model.queue)
    pending = t.aggregator.pending_updates()
    assert [(u.content_hash, u.client, u.base_version, u.samples) for u in pending] == [
        (q.content_hash, t.clients[q.client].account, q.base, q.samples) for q in model.queue
    ]
    assert [u.seq for u in pending] == list(range(model.consumed, model.consumed + len(model.queue)))
    assert [t.aggregator.has_pending(c.account) for c in t.clients] == [
        model.pending_of(n) is not None for n in range(2)
    ]
    assert [t.aggregator.rewards_of(c.account) for c in t.clients] == model.earned
    assert t.aggregator.credited() == sum(model.earned)
    assert t.clients[0].latest_version().version == model.version
