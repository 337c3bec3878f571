"""Who may call what, and when: every state-changing function of the contracts on a real Anvil.

For each function the allowed caller succeeds and every other caller, and every wrong lifecycle
phase, reverts with the contract's custom error surfacing as its typed Python exception. The
training's own aggregator account is the only one that may act on it: not the platform admin
that created it, not a client.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from web3 import Web3

from kafkaml.ledger import (
    AggregatorLedger,
    AlreadyRegistered,
    BudgetExceeded,
    EmptyRound,
    InvalidClient,
    InvalidHash,
    InvalidPointer,
    InvalidSamples,
    InvalidVerdict,
    LedgerError,
    NothingToClaim,
    NotQueued,
    NotRegisteredClient,
    Phase,
    RoundLimitReached,
    TrainingReader,
    Unauthorized,
    UnknownBaseVersion,
    UpdateOutcome,
    UpdatePending,
    WeightsPointer,
    WrongPhase,
)
from kafkaml.ledger.compiler import load_artifact
from kafkaml.ledger.errors import AccessControlUnauthorizedAccount
from kafkaml.ledger.events import pack_update
from kafkaml.ledger.signed import SignedLedger
from kafkaml.topics import update_topic
from tests.integration.ledger_fixtures import (
    WEIGHTS_TOPIC,
    as_aggregator,
    as_trainer,
    deploy,
    digest,
    global_pointer,
    key_of,
    update_pointer,
)


def raw_round(ledger: AggregatorLedger, outcomes: list[tuple[str, bytes]]) -> None:
    """recordRound without the client's own checks, to reach the contract's: (client, verdict)."""
    ledger._transact("recordRound", [digest("g"), 10 << 64 | 12, outcomes], "raw round")


def reward(amount: int) -> bytes:
    return amount.to_bytes(32, "big")


def revert_args(error: pytest.ExceptionInfo) -> dict:
    """A revert's arguments, with addresses checksummed (eth-abi decodes them in lower case)."""
    return {
        name: Web3.to_checksum_address(value) if isinstance(value, str) and Web3.is_address(value) else value
        for name, value in error.value.args_by_name.items()
    }


def nonce(ledger: SignedLedger) -> int:
    return ledger.rpc.w3.eth.get_transaction_count(ledger.account)


def test_register_clients_only_by_the_aggregator_and_not_after_finish(local_stack):
    t = deploy(local_stack, register=False)
    newcomer = t.outsider.account
    for caller in (t.clients[0], t.outsider, t.admin):
        with pytest.raises(Unauthorized) as error:
            as_aggregator(caller).register_clients({newcomer: 10})
        assert error.value.args_by_name["caller"].lower() == caller.account.lower()
    ceilings = {c.account: 10 + n for n, c in enumerate(t.clients)}
    assert t.aggregator.register_clients(ceilings) == [c.account for c in t.clients]
    assert t.aggregator.register_clients(ceilings) == []  # already there: nothing sent
    assert t.aggregator.sample_ceilings() == ceilings
    with pytest.raises(AlreadyRegistered):
        t.aggregator._transact("registerClients", [[t.clients[0].account], [5]], "again")
    for bad in ("0x" + "00" * 20, t.aggregator.account):
        with pytest.raises(InvalidClient):
            t.aggregator.register_clients({bad: 1})
    with pytest.raises(ValueError, match="sample ceiling"):  # refused before anything is sent
        t.aggregator.register_clients({newcomer: 0})
    with pytest.raises(InvalidSamples):  # and by the contract
        t.aggregator._transact("registerClients", [[newcomer], [0]], "no ceiling")
    with pytest.raises(InvalidSamples):  # one ceiling per client
        t.aggregator._transact("registerClients", [[newcomer], [1, 2]], "lengths differ")
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    assert t.aggregator.register_clients({newcomer: 7}) == [newcomer]  # clients may join a running training
    assert t.aggregator.sample_ceilings()[newcomer] == 7
    t.aggregator.finish()
    with pytest.raises(WrongPhase):
        t.aggregator._transact("registerClients", [[Web3.to_checksum_address("0x" + "12" * 20)], [1]], "late")


def test_start_only_once_and_only_by_the_aggregator(local_stack):
    t = deploy(local_stack, start=False)
    assert t.aggregator.phase() == Phase.CONFIGURED and not t.aggregator.is_active()
    with pytest.raises(WrongPhase):
        t.clients[0].latest_version()
    assert t.clients[0].announcement_hash() is None
    for caller in (t.clients[0], t.admin):
        with pytest.raises(Unauthorized):
            as_aggregator(caller).start(digest("genesis"), global_pointer(0), digest("announcement"))
    with pytest.raises(InvalidHash):
        t.aggregator.start(bytes(32), global_pointer(0), digest("announcement"))
    with pytest.raises(InvalidHash):  # the announcement's hash is required too
        t.aggregator.start(digest("genesis"), global_pointer(0), bytes(32))
    genesis = digest("genesis")
    t.aggregator.start(genesis, global_pointer(0), digest("announcement"))
    latest = t.clients[0].latest_version()
    assert (latest.version, latest.content_hash, latest.pointer) == (0, genesis, global_pointer(0))
    assert t.clients[0].is_active()
    with pytest.raises(WrongPhase) as error:
        t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    assert revert_args(error) == {"expected": Phase.CONFIGURED, "actual": Phase.ACTIVE}
    with pytest.raises(ValueError, match="training's topic"):
        t.aggregator.record_round(
            digest("g"), update_pointer(0, t.clients[0].account), [UpdateOutcome(digest("u"), True)]
        )


def test_the_announcement_hash_is_recorded_at_start_and_readable(local_stack):
    t = deploy(local_stack, start=False)
    announcement = digest("announcement")
    t.aggregator.start(digest("genesis"), global_pointer(0), announcement)
    reader = TrainingReader.open(local_stack.chain.address, t.aggregator.address)
    assert reader.announcement_hash() == announcement
    assert t.clients[0].announcement_hash() == announcement
    assert reader.history().announcement_hash == announcement
    started = [e for e in reader._all_events() if e.name == "TrainingStarted"]
    assert [bytes(e.args["announcementHash"]) for e in started] == [announcement]
    # Another training on the same chain has its own.
    other = deploy(local_stack)
    assert other.aggregator.announcement_hash() not in (None, announcement)


def test_submit_only_by_registered_clients_while_active(local_stack):
    t = deploy(local_stack, start=False)
    with pytest.raises(WrongPhase):
        t.submit(0, digest("early"), base=0)
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    for caller in (t.outsider, t.aggregator, t.admin):
        with pytest.raises(NotRegisteredClient):
            as_trainer(caller).submit_update(0, digest("u"), update_pointer(0, caller.account), 10)
    with pytest.raises(UnknownBaseVersion) as error:
        t.submit(0, digest("future"), base=1)
    assert revert_args(error) == {"baseVersion": 1, "latestVersion": 0}
    own = update_pointer(0, t.clients[0].account)
    with pytest.raises(InvalidSamples):
        t.clients[0].submit_update(0, digest("u"), own, 0)
    with pytest.raises(InvalidHash):
        t.clients[0].submit_update(0, bytes(32), own, 10)
    with pytest.raises(InvalidPointer):  # bits above the packed fields
        t.clients[0]._transact(
            "submitUpdate", [digest("u"), 1 << 250 | pack_update(0, 10, 0, 0, 1)], "malformed"
        )
    with pytest.raises(InvalidPointer):  # an empty offset range
        t.clients[0]._transact("submitUpdate", [digest("u"), pack_update(0, 10, 0, 4, 4)], "empty range")
    with pytest.raises(InvalidPointer):  # a reversed one
        t.clients[0]._transact("submitUpdate", [digest("u"), pack_update(0, 10, 0, 5, 4)], "reversed")
    for elsewhere in (
        WeightsPointer(WEIGHTS_TOPIC, 1, 0, 2),  # the global weights topic
        WeightsPointer("test-updates", 1, 0, 2),  # a topic of its choosing
        WeightsPointer(f"{WEIGHTS_TOPIC}.{t.clients[0].account}", 1, 0, 2),  # its address, not lower case
    ):
        with pytest.raises(ValueError, match="updates live in"):
            t.clients[0].submit_update(0, digest("u"), elsewhere, 10)
    assert t.aggregator.queue_size() == 0
    update = digest("u")
    submitted = t.clients[0].submit_update(0, update, own, 10)
    assert (submitted.seq, submitted.client, submitted.samples, submitted.pointer) == (
        0,
        t.clients[0].account,
        10,
        own,
    )
    assert t.aggregator.queue_size() == 1
    t.aggregator.finish()
    with pytest.raises(WrongPhase):
        t.submit(1, digest("late"), base=0)


def test_an_update_is_bound_to_its_sender(local_stack):
    """Issue 10 (2): a client cannot take another client's update. Its update topic is fixed by its
    address, so B cannot point into A's topic, and B submitting A's hash is B's own update (in B's
    topic, rewarded to B only if B's weights prove it), which leaves A's submission untouched."""
    t = deploy(local_stack)
    a_client, b_client = t.clients
    update = digest("a-update")
    a_pointer = update_pointer(0, a_client.account)
    a_client.submit_update(0, update, a_pointer, 10)
    with pytest.raises(ValueError, match="updates live in"):  # B pointing at A's weights
        b_client.submit_update(0, update, a_pointer, 10)
    assert t.aggregator.queue_size() == 1 and not b_client.has_pending()
    b_pointer = update_pointer(0, b_client.account)
    assert b_pointer.topic == update_topic(WEIGHTS_TOPIC, b_client.account) != a_pointer.topic
    b_submitted = b_client.submit_update(0, update, b_pointer, 10)  # the same hash, B's own topic
    assert (b_submitted.seq, b_submitted.client, b_submitted.pointer) == (1, b_client.account, b_pointer)
    queued = [(u.seq, u.client, u.content_hash, u.pointer) for u in t.aggregator.pending_updates()]
    assert queued == [(0, a_client.account, update, a_pointer), (1, b_client.account, update, b_pointer)]
    assert t.aggregator.has_pending(a_client.account) and t.aggregator.has_pending(b_client.account)
    audit = TrainingReader.open(local_stack.chain.address, t.aggregator.address).history()
    assert [(u.client, u.pointer.topic) for u in audit.pending] == [
        (a_client.account, a_pointer.topic),
        (b_client.account, b_pointer.topic),
    ]
    # The aggregator judges each on its own: A's is credited to A, B's (a copy) is rejected. The
    # hash alone does not say which is which: a round naming the submissions in another order is
    # refused before anything is sent.
    a_verdict = UpdateOutcome(update, True, 5, client=a_client.account, pointer=a_pointer)
    b_verdict = UpdateOutcome(update, False, reason="duplicate_update", client=b_client.account, pointer=b_pointer)
    sent = nonce(t.aggregator)
    with pytest.raises(LedgerError, match="not the oldest queued update"):
        t.round(b_verdict, a_verdict)
    with pytest.raises(LedgerError, match="does not match queued update 1"):
        t.round(a_verdict, replace(b_verdict, pointer=a_pointer))
    assert nonce(t.aggregator) == sent
    t.round(a_verdict, b_verdict)
    assert [t.aggregator.rewards_of(c.account) for c in t.clients] == [5, 0]
    rows = [(u.client, u.accepted, u.reward, u.reason) for u in t.aggregator.history().versions[1].updates]
    assert rows == [(a_client.account, True, 5, ""), (b_client.account, False, 0, "duplicate_update")]


def test_one_pending_update_per_client(local_stack):
    """Issue 10 (5): a second submission while one is pending reverts UpdatePending (and costs no
    queue slot); once a round consumed the first, accepted or rejected, the next one is queued."""
    t = deploy(local_stack)
    first, second, other = digest("first"), digest("second"), digest("other")
    client = t.clients[0]
    assert not client.has_pending()
    submitted = client.submit_update(0, first, update_pointer(0, client.account), 10)
    assert client.has_pending() and t.aggregator.has_pending(client.account)
    sent = nonce(client)
    again = client.submit_update(0, first, update_pointer(0, client.account), 10)  # a restarted client
    assert (again.seq, again.content_hash, again.tx_hash) == (0, first, submitted.tx_hash)
    assert nonce(client) == sent  # no transaction
    with pytest.raises(UpdatePending) as error:
        t.submit(0, second)
    assert revert_args(error) == {"client": client.account, "seq": 0}
    with pytest.raises(UpdatePending):  # straight to the contract, past the client's checks
        client._transact("submitUpdate", [second, pack_update(0, 10, 1, 2, 4)], "second")
    t.submit(1, other)  # another client is not held up
    assert [u.content_hash for u in t.aggregator.pending_updates()] == [first, other]
    t.round(UpdateOutcome(first, True, 1))
    assert not client.has_pending() and t.clients[1].has_pending()
    sent = nonce(client)  # a consumed hash is not submitted again (it would be a duplicate_update)
    assert client.submit_update(0, first, update_pointer(0, client.account), 10).seq == 0
    assert nonce(client) == sent and not client.has_pending()
    t.submit(0, second)
    assert [(u.seq, u.content_hash) for u in t.aggregator.pending_updates()] == [(1, other), (2, second)]
    with pytest.raises(UpdatePending) as error:
        t.submit(0, digest("third"))
    assert error.value.args_by_name["seq"] == 2
    t.round(UpdateOutcome(other, True, 1), UpdateOutcome(second, False, reason="stale"))
    t.submit(0, third := digest("third"))  # a rejected update frees the slot as well
    assert [u.content_hash for u in t.aggregator.pending_updates()] == [third]


def test_a_replayed_signed_transaction_is_not_queued_twice(local_stack):
    t = deploy(local_stack)
    sender = t.clients[0].sender
    data = t.clients[0].contract.encode_abi("submitUpdate", args=[digest("u"), pack_update(0, 10, 0, 0, 1)])
    pending = sender.send({"to": t.aggregator.address, "data": data}, "submit")
    sender.wait(pending)
    w3 = t.aggregator.rpc.w3
    with pytest.raises(Exception, match="nonce"):
        w3.eth.send_raw_transaction(pending.raw)
    assert t.aggregator.queue_size() == 1 and len(t.aggregator.pending_updates()) == 1


def test_record_round_only_by_the_aggregator_with_the_queue_head(local_stack):
    t = deploy(local_stack, rounds=2)
    first, second = digest("first"), digest("second")
    one, two = (c.account for c in t.clients)
    t.submit(0, first)
    t.submit(1, second)
    for caller in (t.clients[0], t.admin):
        with pytest.raises(Unauthorized):
            as_aggregator(caller).record_round(digest("g"), global_pointer(1), [UpdateOutcome(first, True)])
    with pytest.raises(EmptyRound):
        raw_round(t.aggregator, [])
    with pytest.raises(NotQueued) as error:  # a client with nothing queued
        raw_round(t.aggregator, [(t.outsider.account, bytes(32))])
    assert revert_args(error) == {"client": t.outsider.account, "expectedSeq": 0}
    with pytest.raises(NotQueued) as error:  # skipping the oldest update
        raw_round(t.aggregator, [(two, bytes(32))])
    assert revert_args(error) == {"client": two, "expectedSeq": 0}
    with pytest.raises(NotQueued):  # the head twice in one round
        raw_round(t.aggregator, [(one, bytes(32)), (one, bytes(32))])
    with pytest.raises(LedgerError, match="not the oldest queued"):  # the client checks it first
        t.round(UpdateOutcome(second, True))
    with pytest.raises(LedgerError, match="does not match"):
        t.round(UpdateOutcome(first, True), UpdateOutcome(digest("never"), True))
    with pytest.raises(LedgerError, match="3 updates, but 2 are queued"):
        t.round(UpdateOutcome(first, True), UpdateOutcome(second, True), UpdateOutcome(second, True))
    with pytest.raises(InvalidVerdict):  # above any reward, but not a reason either
        raw_round(t.aggregator, [(one, (2**130).to_bytes(32, "big"))])
    with pytest.raises(InvalidVerdict):  # the first value above the largest reward (2^88 - 1)
        raw_round(t.aggregator, [(one, (2**88).to_bytes(32, "big"))])
    with pytest.raises(ValueError, match="reward"):
        UpdateOutcome(first, True, 2**88)
    with pytest.raises(InvalidPointer):
        t.aggregator._transact("recordRound", [digest("g"), 5 << 64 | 5, [(one, bytes(32))]], "empty range")
    assert t.aggregator.queue_size() == 2  # nothing of the above changed the queue
    assert t.round(UpdateOutcome(first, True, 3)) == 1
    with pytest.raises(NotQueued) as error:  # the same update a second time
        raw_round(t.aggregator, [(one, bytes(32))])
    assert revert_args(error) == {"client": one, "expectedSeq": 1}
    assert t.round(UpdateOutcome(second, False, reason="worse-than-global")) == 2
    t.submit(0, third := digest("third"))
    with pytest.raises(RoundLimitReached):
        t.round(UpdateOutcome(third, True))
    assert t.aggregator.rewards_of(one) == 3 and t.aggregator.rewards_of(two) == 0


def test_finish_pay_and_claim(local_stack):
    t = deploy(local_stack, start=False)
    with pytest.raises(WrongPhase):
        t.aggregator.finish()
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    a, b = digest("a"), digest("b")
    t.submit(0, a)
    t.submit(1, b)
    t.round(UpdateOutcome(a, True, 40), UpdateOutcome(b, True, 2))
    with pytest.raises(WrongPhase):
        t.clients[0].claim()
    with pytest.raises(WrongPhase):
        t.aggregator.pay_rewards()
    with pytest.raises(Unauthorized):
        as_aggregator(t.clients[0]).finish()
    t.aggregator.finish()
    assert t.aggregator.phase() == Phase.FINISHED
    with pytest.raises(WrongPhase):
        t.aggregator.finish()
    with pytest.raises(Unauthorized):
        as_aggregator(t.clients[0]).pay_rewards()
    with pytest.raises(NotRegisteredClient):
        t.outsider.claim()
    assert t.clients[0].claim() == 40
    with pytest.raises(NothingToClaim):
        t.clients[0].claim()
    t.aggregator.pay_rewards()
    assert [t.aggregator.token_balance(c.account) for c in t.clients] == [40, 2]
    assert [t.aggregator.unpaid_of(c.account) for c in t.clients] == [0, 0]
    sent = nonce(t.aggregator)
    t.aggregator.pay_rewards()  # nothing left: no transaction, no error
    assert nonce(t.aggregator) == sent


def test_the_platform_admin_can_act_on_no_training(local_stack):
    """Issue 10 (1): the admin key that created the training cannot register, start, record,
    finish or pay on it; only the training's own aggregator account can."""
    t = deploy(local_stack, register=False)
    admin = t.admin
    assert admin.account == local_stack.account("platform").address != t.aggregator.account
    assert t.aggregator.info().aggregator == t.aggregator.account
    with pytest.raises(Unauthorized) as error:
        admin.register_clients({admin.account: 10})
    assert revert_args(error) == {"caller": admin.account}
    t.aggregator.register_clients({c.account: 1000 for c in t.clients})
    with pytest.raises(Unauthorized):
        admin.start(digest("genesis"), global_pointer(0), digest("announcement"))
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    update = digest("u")
    t.submit(0, update)
    with pytest.raises(Unauthorized):
        admin.record_round(digest("v1"), global_pointer(1), [UpdateOutcome(update, True, 10**18)])
    with pytest.raises(Unauthorized):  # by hand, past the client's checks
        admin._transact(
            "recordRound", [digest("v1"), 3 << 64 | 6, [(t.clients[0].account, reward(5))]], "raw"
        )
    t.round(UpdateOutcome(update, True, 5))
    with pytest.raises(Unauthorized):
        admin.finish()
    t.aggregator.finish()
    with pytest.raises(Unauthorized):
        admin.pay_rewards()
    with pytest.raises(Unauthorized):
        admin._transact("payRewards", [[t.clients[0].account]], "raw payout")
    assert (
        t.aggregator.token_balance(t.clients[0].account) == 0
        and t.aggregator.unpaid_of(t.clients[0].account) == 5
    )
    t.aggregator.pay_rewards()
    assert t.aggregator.token_balance(t.clients[0].account) == 5


def test_a_sample_count_above_the_clients_ceiling_is_capped(local_stack):
    """Issue 10 (4): the reported sample count is capped to the ceiling the platform registered,
    in the event the aggregator and the auditors read."""
    t = deploy(local_stack, register=False, start=False)
    one, two = (c.account for c in t.clients)
    t.aggregator.register_clients({one: 50, two: 1})  # 1: every update of `two` weighs the same
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    assert t.aggregator.sample_ceilings() == {one: 50, two: 1}
    big, small, huge = digest("big"), digest("small"), digest("huge")
    submitted = t.clients[0].submit_update(0, big, update_pointer(0, one), 2**32 - 1)
    assert submitted.samples == 50
    t.submit(1, small, samples=1)
    queued = t.aggregator.pending_updates()
    assert [(u.client, u.samples) for u in queued] == [(one, 50), (two, 1)]
    reported = [e.args["samples"] for e in t.aggregator._all_events() if e.name == "UpdateSubmitted"]
    assert reported == [50, 1]
    # The rest of the packed word is untouched by the cap.
    assert (queued[0].base_version, queued[0].pointer) == (0, update_pointer(0, one))
    t.round(UpdateOutcome(big, True), UpdateOutcome(small, True))
    t.submit(0, below := digest("below"), samples=49)  # below the ceiling: as reported
    t.submit(1, huge, samples=1000)
    assert [u.samples for u in t.aggregator.pending_updates()] == [49, 1]
    audit = TrainingReader.open(local_stack.chain.address, t.aggregator.address).history()
    assert audit.sample_ceilings == {one: 50, two: 1}
    assert [u.samples for v in audit.versions for u in v.updates] == [50, 1]
    assert [(u.content_hash, u.samples) for u in audit.pending] == [(below, 49), (huge, 1)]


def test_credits_beyond_the_budget_revert(local_stack):
    """Issue 10 (8): a training credits at most its budget, fixed at creation; a round that would
    go beyond it reverts whole, one that reaches it exactly is recorded."""
    t = deploy(local_stack, budget=100)
    one, two = (c.account for c in t.clients)
    assert t.aggregator.info().budget == 100 and t.aggregator.credited() == 0
    a, b = digest("a"), digest("b")
    t.submit(0, a)
    t.submit(1, b)
    with pytest.raises(BudgetExceeded) as error:  # one update alone beyond the budget
        t.round(UpdateOutcome(a, True, 101))
    assert revert_args(error) == {"credited": 101, "budget": 100}
    assert t.round(UpdateOutcome(a, True, 60)) == 1
    with pytest.raises(BudgetExceeded) as error:
        t.round(UpdateOutcome(b, True, 41))
    assert revert_args(error) == {"credited": 101, "budget": 100}
    assert t.aggregator.credited() == 60 and t.aggregator.queue_size() == 1  # the failed round left no trace
    assert t.aggregator.latest_version().version == 1
    assert t.round(UpdateOutcome(b, True, 40)) == 2  # exactly the budget
    assert t.aggregator.credited() == 100
    t.submit(0, c := digest("c"))
    with pytest.raises(BudgetExceeded) as error:
        t.round(UpdateOutcome(c, True, 1))
    assert revert_args(error) == {"credited": 101, "budget": 100}
    assert t.round(UpdateOutcome(c, True, 0)) == 3  # a spent budget still takes rewardless verdicts
    audit = t.aggregator.history()
    assert audit.credited == sum(audit.earned.values()) == t.aggregator.credited() == 100
    assert audit.earned == {one: 60, two: 40}
    t.aggregator.finish()
    t.aggregator.pay_rewards()
    assert [t.aggregator.token_balance(x) for x in (one, two)] == [60, 40]


def test_a_training_without_budget_credits_nothing(local_stack):
    t = deploy(local_stack, budget=0)
    t.submit(0, a := digest("a"))
    with pytest.raises(BudgetExceeded) as error:
        t.round(UpdateOutcome(a, True, 1))
    assert revert_args(error) == {"credited": 1, "budget": 0}
    assert t.round(UpdateOutcome(a, True, 0)) == 1


def test_payout_in_bounded_batches_is_resumable(local_stack):
    """Issue 10 (9): with batches of 2, three clients are paid in two transactions, and paying
    again pays nothing more (a payout interrupted midway resumes with who is left)."""
    t = deploy(local_stack, register=False)
    members = [*t.clients, t.outsider]
    t.aggregator.register_clients({m.account: 1000 for m in members})
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    hashes = [digest(f"u{n}") for n in range(3)]
    for member, content in zip(members, hashes, strict=True):
        member.submit_update(0, content, update_pointer(0, member.account), 10)
    t.round(*(UpdateOutcome(h, True, 10 + n) for n, h in enumerate(hashes)))
    t.aggregator.finish()
    token = t.aggregator.rpc.w3.eth.contract(
        address=t.aggregator.info().token, abi=load_artifact("RewardToken")["abi"]
    )
    before = [t.aggregator.token_balance(m.account) for m in members]  # the token outlives trainings
    supply = token.functions.totalSupply().call()
    sent = nonce(t.aggregator)
    t.aggregator.pay_rewards(batch=2)
    assert nonce(t.aggregator) == sent + 2
    paid = [e for e in t.aggregator._all_events() if e.name == "RewardPaid"]
    assert len({e.tx_hash for e in paid}) == 2 and [e.args["amount"] for e in paid] == [10, 11, 12]
    assert [t.aggregator.token_balance(m.account) - b for m, b in zip(members, before, strict=True)] == [
        10,
        11,
        12,
    ]
    assert token.functions.totalSupply().call() == supply + 33
    t.aggregator.pay_rewards(batch=2)  # nothing left: no transaction
    assert nonce(t.aggregator) == sent + 2
    assert token.functions.totalSupply().call() == supply + 33


def test_an_interrupted_payout_pays_only_who_is_left(local_stack):
    t = deploy(local_stack, register=False)
    members = [*t.clients, t.outsider]
    t.aggregator.register_clients({m.account: 1000 for m in members})
    t.aggregator.start(digest("genesis"), global_pointer(0), digest("announcement"))
    hashes = [digest(f"u{n}") for n in range(3)]
    for member, content in zip(members, hashes, strict=True):
        member.submit_update(0, content, update_pointer(0, member.account), 10)
    t.round(*(UpdateOutcome(h, True, 7) for h in hashes))
    t.aggregator.finish()
    t.aggregator.pay_rewards(clients=[members[1].account])  # the first batch got through
    assert members[2].claim() == 7  # and a client pulled its own
    sent = nonce(t.aggregator)
    t.aggregator.pay_rewards(batch=2)
    assert nonce(t.aggregator) == sent + 1  # only the one left: one transaction
    assert [t.aggregator.unpaid_of(m.account) for m in members] == [0, 0, 0]
    audit = t.aggregator.history()
    assert audit.paid == audit.earned == {m.account: 7 for m in members}


def test_only_minters_mint_the_reward_token(local_stack):
    t = deploy(local_stack)
    w3 = t.aggregator.rpc.w3
    token = w3.eth.contract(address=t.aggregator.info().token, abi=load_artifact("RewardToken")["abi"])
    data = token.encode_abi("mint", args=[t.clients[0].account, 10**18])
    for caller in (t.admin, t.aggregator, t.clients[0]):  # neither the platform admin nor the aggregator
        with pytest.raises(AccessControlUnauthorizedAccount):
            caller.sender.transact({"to": token.address, "data": data}, "mint")
    assert t.aggregator.token_balance(t.clients[0].account) == 0


def test_rounds_mined_in_one_block_get_their_own_versions(local_stack):
    """The latest hash lives only in events: a reader takes the last one of the block the contract
    names, and each of several rounds mined in one block still learns its own version."""
    t = deploy(local_stack)
    first, second = digest("first"), digest("second")
    t.submit(0, first)
    t.submit(1, second)
    w3 = t.aggregator.rpc.w3
    account = t.aggregator.sender.account
    start_nonce = w3.eth.get_transaction_count(account.address)
    versions = [digest("v1"), digest("v2")]
    # No standard method puts two transactions into one block on a node that mines each as it
    # comes: the test pauses mining with the dev-node control Anvil and Hardhat's node share
    # (the platform itself calls none: tests/unit/test_standard_json_rpc.py).
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        sent = []
        for n, client in enumerate(t.clients):  # signed by hand: an estimate would see one round only
            data = t.aggregator.contract.encode_abi(
                "recordRound", args=[versions[n], 3 << 64 | 6, [(client.account, reward(n + 1))]]
            )
            tx = {
                "to": t.aggregator.address,
                "data": data,
                "nonce": start_nonce + n,
                "gas": 200_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
                "chainId": w3.eth.chain_id,
            }
            sent.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=10) for h in sent]
    assert [r["status"] for r in receipts] == [1, 1]
    blocks = {r["blockNumber"] for r in receipts}
    assert len(blocks) == 1
    block = blocks.pop()
    assert [t.aggregator._published_version(h, block) for h in versions] == [1, 2]
    latest = t.clients[0].latest_version()
    assert (latest.version, latest.content_hash) == (2, versions[1])
    history = t.aggregator.history()
    assert [v.content_hash for v in history.versions[1:]] == versions
    assert [u.reward for v in history.versions[1:] for u in v.updates] == [1, 2]


def test_transactions_warm_the_implementation_they_delegate_to(local_stack):
    t = deploy(local_stack)
    submitted = t.clients[0].submit_update(0, digest("u"), update_pointer(0, t.clients[0].account), 10)
    tx = t.aggregator.rpc.w3.eth.get_transaction(submitted.tx_hash)
    assert [entry["address"] for entry in tx["accessList"]] == [t.aggregator.platform().implementation]


def test_an_aggregator_acts_on_its_own_training_only(local_stack):
    """Each training's aggregator is an account of its own, funded by the admin for gas: the
    aggregator of one training is refused by every other."""
    t, u = deploy(local_stack), deploy(local_stack)
    assert t.aggregator.account != u.aggregator.account
    assert t.aggregator.rpc.w3.eth.get_balance(u.aggregator.account) > 0
    intruder = AggregatorLedger.open(local_stack.chain.address, t.aggregator.address, key_of(u.aggregator))
    t.submit(0, update := digest("u"))
    with pytest.raises(Unauthorized) as error:
        intruder.record_round(digest("v1"), global_pointer(1), [UpdateOutcome(update, True, 1)])
    assert revert_args(error) == {"caller": u.aggregator.account}
    with pytest.raises(Unauthorized):
        intruder.register_clients({u.outsider.account: 1})
    with pytest.raises(Unauthorized):
        intruder.finish()
    assert t.aggregator.queue_size() == 1 and t.aggregator.phase() == Phase.ACTIVE
