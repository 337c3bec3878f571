"""Who may call what, and when: every state-changing function of the contracts on a real Anvil.

For each function the allowed caller succeeds and every other caller, and every wrong lifecycle
phase, reverts with the contract's custom error surfacing as its typed Python exception.
"""

from __future__ import annotations

import pytest
from web3 import Web3

from kafkaml.ledger import (
    AlreadyRegistered,
    DuplicateUpdate,
    EmptyRound,
    InvalidClient,
    InvalidHash,
    InvalidPointer,
    InvalidSamples,
    InvalidVerdict,
    Ledger,
    NothingToClaim,
    NotRegisteredClient,
    Phase,
    RoundLimitReached,
    StaleRecord,
    Unauthorized,
    UnknownBaseVersion,
    UnknownUpdate,
    UpdateOutcome,
    WeightsPointer,
    WrongPhase,
)
from kafkaml.ledger.compiler import load_artifact
from kafkaml.ledger.errors import AccessControlUnauthorizedAccount
from kafkaml.ledger.events import pack_update
from tests.integration.ledger_fixtures import deploy, digest, global_pointer, update_pointer


def raw_round(ledger: Ledger, outcomes: list[tuple[bytes, bytes]]) -> None:
    """recordRound without the client's own checks, to reach the contract's."""
    ledger._transact("recordRound", [digest("g"), 10 << 64 | 12, outcomes], "raw round")


def test_register_clients_only_by_the_aggregator_and_not_after_finish(local_stack):
    t = deploy(local_stack, register=False)
    newcomer = t.outsider.account
    for caller in (t.clients[0], t.outsider):
        with pytest.raises(Unauthorized) as error:
            caller.register_clients([newcomer])
        assert error.value.args_by_name["caller"].lower() == caller.account.lower()
    assert t.aggregator.register_clients([c.account for c in t.clients]) == [c.account for c in t.clients]
    assert t.aggregator.register_clients([c.account for c in t.clients]) == []  # already there: nothing sent
    with pytest.raises(AlreadyRegistered):
        t.aggregator._transact("registerClients", [[t.clients[0].account]], "again")
    for bad in ("0x" + "00" * 20, t.aggregator.account):
        with pytest.raises(InvalidClient):
            t.aggregator.register_clients([bad])
    t.aggregator.start(digest("genesis"), global_pointer(0))
    assert t.aggregator.register_clients([newcomer]) == [newcomer]  # clients may join a running training
    t.aggregator.finish()
    with pytest.raises(WrongPhase):
        t.aggregator._transact("registerClients", [[Web3.to_checksum_address("0x" + "12" * 20)]], "late")


def test_start_only_once_and_only_by_the_aggregator(local_stack):
    t = deploy(local_stack, start=False)
    assert t.aggregator.phase() == Phase.CONFIGURED and not t.aggregator.is_active()
    with pytest.raises(WrongPhase):
        t.clients[0].latest_version()
    with pytest.raises(Unauthorized):
        t.clients[0].start(digest("genesis"), global_pointer(0))
    with pytest.raises(InvalidHash):
        t.aggregator.start(bytes(32), global_pointer(0))
    genesis = digest("genesis")
    t.aggregator.start(genesis, global_pointer(0))
    latest = t.clients[0].latest_version()
    assert (latest.version, latest.content_hash, latest.pointer) == (0, genesis, global_pointer(0))
    assert latest.timestamp > 0 and t.clients[0].is_active()
    with pytest.raises(WrongPhase) as error:
        t.aggregator.start(digest("genesis"), global_pointer(0))
    assert error.value.args_by_name == {"expected": Phase.CONFIGURED, "actual": Phase.ACTIVE}
    with pytest.raises(ValueError, match="training's topic"):
        t.aggregator.record_round(digest("g"), update_pointer(0), [UpdateOutcome(digest("u"), True)])


def test_submit_only_by_registered_clients_while_active(local_stack):
    t = deploy(local_stack, start=False)
    with pytest.raises(WrongPhase):
        t.submit(0, digest("early"), base=0)
    t.aggregator.start(digest("genesis"), global_pointer(0))
    for caller in (t.outsider, t.aggregator):
        with pytest.raises(NotRegisteredClient):
            caller.submit_update(0, digest("u"), update_pointer(0), 10)
    with pytest.raises(UnknownBaseVersion) as error:
        t.submit(0, digest("future"), base=1)
    assert error.value.args_by_name == {"baseVersion": 1, "latestVersion": 0}
    with pytest.raises(InvalidSamples):
        t.clients[0].submit_update(0, digest("u"), update_pointer(0), 0)
    with pytest.raises(InvalidHash):
        t.clients[0].submit_update(0, bytes(32), update_pointer(0), 10)
    with pytest.raises(InvalidPointer):
        t.clients[0]._transact("submitUpdate", [digest("u"), pack_update(0, 10, 0, 0, 1)], "no topic")
    with pytest.raises(InvalidPointer):  # a topic, when named, is not empty
        t.clients[0]._transact("submitUpdateTo", [digest("u"), pack_update(0, 10, 0, 0, 1), ""], "empty topic")
    with pytest.raises(InvalidPointer):  # bits above the packed fields
        t.clients[0]._transact("submitUpdateTo", [digest("u"), 1 << 250 | pack_update(0, 10, 0, 0, 1), "t"], "malformed word")
    with pytest.raises(InvalidPointer):  # an empty offset range
        t.clients[0]._transact("submitUpdateTo", [digest("u"), pack_update(0, 10, 0, 4, 4), "t"], "empty range")
    update = digest("u")
    submitted = t.clients[0].submit_update(0, update, update_pointer(0), 10)
    assert (submitted.seq, submitted.client, submitted.samples) == (0, t.clients[0].account, 10)
    with pytest.raises(DuplicateUpdate):  # the same content hash from another client
        t.clients[1].submit_update(0, update, update_pointer(1), 10)
    assert t.aggregator.queue_size() == 1
    t.aggregator.finish()
    with pytest.raises(WrongPhase):
        t.submit(0, digest("late"), base=0)


def test_a_consumed_hash_cannot_be_queued_again(local_stack):
    t = deploy(local_stack)
    update = digest("u")
    t.submit(0, update)
    t.round(UpdateOutcome(update, True, 5))
    with pytest.raises(DuplicateUpdate):  # straight to the contract, past the client's idempotency
        t.clients[0]._transact("submitUpdateTo", [update, pack_update(1, 10, 0, 0, 1), "t"], "replay")
    # Through the client the same call is a no-op that returns the original submission.
    assert t.clients[0].submit_update(1, update, update_pointer(0), 10).base_version == 0
    assert t.aggregator.queue_size() == 0


def test_a_replayed_signed_transaction_is_not_queued_twice(local_stack):
    t = deploy(local_stack)
    sender = t.clients[0].sender
    data = t.clients[0].contract.encode_abi("submitUpdateTo", args=[digest("u"), pack_update(0, 10, 0, 0, 1), "t"])
    pending = sender.send({"to": t.aggregator.address, "data": data}, "submit")
    sender.wait(pending)
    w3 = t.aggregator.rpc.w3
    with pytest.raises(Exception, match="nonce"):
        w3.eth.send_raw_transaction(pending.raw)
    assert t.aggregator.queue_size() == 1 and len(t.aggregator.pending_updates()) == 1


def test_record_round_only_by_the_aggregator_with_the_queue_head(local_stack):
    t = deploy(local_stack, rounds=2)
    first, second = digest("first"), digest("second")
    t.submit(0, first)
    t.submit(1, second)
    with pytest.raises(Unauthorized):
        t.clients[0].record_round(digest("g"), global_pointer(1), [UpdateOutcome(first, True)])
    with pytest.raises(EmptyRound):
        raw_round(t.aggregator, [])
    with pytest.raises(UnknownUpdate):
        raw_round(t.aggregator, [(digest("never"), bytes(32))])
    with pytest.raises(StaleRecord) as error:  # skipping the oldest update
        t.round(UpdateOutcome(second, True))
    assert error.value.args_by_name["expectedSeq"] == 0 and error.value.args_by_name["seq"] == 1
    with pytest.raises(InvalidVerdict):  # above any reward, but not a reason either
        raw_round(t.aggregator, [(first, (2**130).to_bytes(32, "big"))])
    with pytest.raises(InvalidPointer):
        t.aggregator._transact("recordRound", [digest("g"), 5 << 64 | 5, [(first, bytes(32))]], "empty range")
    assert t.round(UpdateOutcome(first, True, 3)) == 1
    with pytest.raises(StaleRecord):  # the same update a second time
        raw_round(t.aggregator, [(first, bytes(32))])
    assert t.round(UpdateOutcome(second, False, reason="worse-than-global")) == 2
    t.submit(0, third := digest("third"))
    with pytest.raises(RoundLimitReached):
        t.round(UpdateOutcome(third, True))
    assert (
        t.aggregator.rewards_of(t.clients[0].account) == 3
        and t.aggregator.rewards_of(t.clients[1].account) == 0
    )


def test_finish_pay_and_claim(local_stack):
    t = deploy(local_stack, start=False)
    with pytest.raises(WrongPhase):
        t.aggregator.finish()
    t.aggregator.start(digest("genesis"), global_pointer(0))
    a, b = digest("a"), digest("b")
    t.submit(0, a)
    t.submit(1, b)
    t.round(UpdateOutcome(a, True, 40), UpdateOutcome(b, True, 2))
    with pytest.raises(WrongPhase):
        t.clients[0].claim()
    with pytest.raises(WrongPhase):
        t.aggregator.pay_rewards()
    with pytest.raises(Unauthorized):
        t.clients[0].finish()
    t.aggregator.finish()
    assert t.aggregator.phase() == Phase.FINISHED
    with pytest.raises(WrongPhase):
        t.aggregator.finish()
    with pytest.raises(Unauthorized):
        t.clients[0].pay_rewards()
    with pytest.raises(NotRegisteredClient):
        t.outsider.claim()
    assert t.clients[0].claim() == 40
    with pytest.raises(NothingToClaim):
        t.clients[0].claim()
    t.aggregator.pay_rewards()
    assert [t.aggregator.token_balance(c.account) for c in t.clients] == [40, 2]
    assert [t.aggregator.unpaid_of(c.account) for c in t.clients] == [0, 0]
    t.aggregator.pay_rewards()  # nothing left: no transaction, no error


def test_only_minters_mint_the_reward_token(local_stack):
    t = deploy(local_stack)
    w3 = t.aggregator.rpc.w3
    token = w3.eth.contract(address=t.aggregator.info().token, abi=load_artifact("RewardToken")["abi"])
    data = token.encode_abi("mint", args=[t.clients[0].account, 10**18])
    for caller in (t.aggregator, t.clients[0]):  # the platform admin is not a minter; a client even less
        with pytest.raises(AccessControlUnauthorizedAccount):
            caller.sender.transact({"to": token.address, "data": data}, "mint")
    assert t.aggregator.token_balance(t.clients[0].account) == 0


def test_an_update_topic_is_announced_once_and_may_change(local_stack):
    t = deploy(local_stack)
    client = t.clients[0]
    with pytest.raises(InvalidPointer):  # a first update must name its topic
        client._transact("submitUpdate", [digest("u"), pack_update(0, 10, 0, 0, 1)], "no topic yet")
    pointers = [
        update_pointer(0),
        update_pointer(0),
        WeightsPointer("moved-updates", 2, 0, 4),
        update_pointer(0),
    ]
    for n, pointer in enumerate(pointers):
        client.submit_update(0, digest(f"u{n}"), pointer, 10)
    announced = [e.args["topic"] for e in t.aggregator._all_events() if e.name == "UpdateTopic"]
    assert announced == ["test-updates", "moved-updates", "test-updates"]  # not repeated while unchanged
    assert [u.pointer for u in t.aggregator.pending_updates()] == pointers
    assert [
        u.pointer for u in Ledger.reader(local_stack.chain.address, client.address).history().pending
    ] == pointers
    t.clients[1]._transact("submitUpdateTo", [digest("other"), pack_update(0, 10, 0, 0, 1), "its-own"], "raw")
    assert t.aggregator.pending_updates()[-1].pointer.topic == "its-own"  # topics are per client


def test_rounds_mined_in_one_block_get_their_own_versions(local_stack):
    """The latest hash lives only in events: a reader takes the last one of the block the contract
    names, and each of several rounds mined in one block still learns its own version."""
    t = deploy(local_stack)
    first, second = digest("first"), digest("second")
    t.submit(0, first)
    t.submit(1, second)
    w3 = t.aggregator.rpc.w3
    account = t.aggregator.sender.account
    nonce = w3.eth.get_transaction_count(account.address)
    versions = [digest("v1"), digest("v2")]
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        sent = []
        for n, update in enumerate((first, second)):  # signed by hand: an estimate would see one round only
            data = t.aggregator.contract.encode_abi(
                "recordRound", args=[versions[n], 3 << 64 | 6, [(update, (n + 1).to_bytes(32, "big"))]]
            )
            tx = {"to": t.aggregator.address, "data": data, "nonce": nonce + n, "gas": 200_000,
                  "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}
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
    submitted = t.clients[0].submit_update(0, digest("u"), update_pointer(0), 10)
    tx = t.aggregator.rpc.w3.eth.get_transaction(submitted.tx_hash)
    assert [entry["address"] for entry in tx["accessList"]] == [t.aggregator.platform().implementation]
