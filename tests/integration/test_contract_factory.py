"""The platform's TrainingFactory and its clones: who may create, initialise and mint, on a real Anvil.

A training is an EIP-1167 clone of one FederatedLearning implementation per platform. These
tests check what the clone design must not give away: only the platform admin creates
trainings, a clone is initialised exactly once (by its factory, in its creation transaction),
the implementation itself is inert, and only the platform's own trainings mint rewards, each no
more than it credited.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from kafkaml.ledger import (
    AggregatorLedger,
    AlreadyInitialized,
    ContractRevert,
    LedgerError,
    NotRegisteredClient,
    Phase,
    PlatformLedger,
    TrainerLedger,
    TrainingReader,
    Unauthorized,
    UpdateOutcome,
    WrongPhase,
)
from kafkaml.ledger.compiler import load_artifact
from kafkaml.ledger.contracts import deploy_contract, error_decoder
from kafkaml.ledger.errors import AccessControlUnauthorizedAccount, InvalidAggregator
from kafkaml.ledger.events import pack_update
from kafkaml.local.accounts import new_account
from tests.integration.ledger_fixtures import (
    WEIGHTS_TOPIC,
    deploy,
    digest,
    foreign_clone,
    global_pointer,
    key_of,
    update_pointer,
)

MINTER_ROLE = Web3.keccak(text="MINTER_ROLE")


def contract(ledger: TrainingReader, name: str, address: str) -> Any:
    return ledger.rpc.w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def call_as(ledger: TrainingReader, sender: str, to: str, data: str) -> None:
    """eth_call from any address (the node does not check a signature for a call)."""
    try:
        ledger.rpc.w3.eth.call({"from": sender, "to": to, "data": data})
    except ContractLogicError as exc:
        raise error_decoder().decode(exc.data) from None


def fresh_address() -> str:
    """An account nobody holds (a new aggregator for a training)."""
    return Web3.to_checksum_address(digest("aggregator")[:20])


def create(stack, key: str, token: str, aggregator: str, **overrides: Any) -> str:
    params = {
        "token_address": token,
        "aggregator": aggregator,
        "settings_hash": digest("s"),
        "weights_topic": "w",
        "strategy": "fedavg",
        "rounds": 2,
        "budget": 1000,
    } | overrides
    return PlatformLedger.create_training(stack.chain.address, key, **params)


def test_a_training_is_a_small_clone_carrying_its_parameters(local_stack):
    t = deploy(local_stack, rounds=7, budget=12345)
    platform = t.aggregator.platform()
    code = bytes(t.aggregator.rpc.w3.eth.get_code(t.aggregator.address))
    assert len(code) == 45 + 96  # the EIP-1167 proxy plus the packed arguments
    info = t.aggregator.info()
    view = contract(t.aggregator, "FederatedLearning", t.aggregator.address).functions
    assert view.aggregator().call() == info.aggregator == t.aggregator.account
    assert view.token().call() == info.token == platform.token
    assert (view.rounds().call(), info.rounds, info.weights_topic, info.strategy) == (
        7,
        7,
        WEIGHTS_TOPIC,
        "fedavg",
    )
    assert view.settingsHash().call() == info.settings_hash
    assert view.createdAt().call() == info.created_block
    assert view.budget().call() == info.budget == 12345
    assert info.aggregator != t.admin.account  # the admin created it for an account of its own
    token = contract(t.aggregator, "RewardToken", platform.token).functions
    assert token.factory().call() == platform.factory
    assert token.hasRole(MINTER_ROLE, t.aggregator.address).call()
    assert not token.hasRole(bytes(32), t.aggregator.account).call()  # the platform is not the token's admin
    assert token.hasRole(bytes(32), platform.factory).call()
    other = fresh_address()
    second = create(
        local_stack,
        local_stack.account("platform").private_key(),
        platform.token,
        other,
        settings_hash=digest("other"),
        weights_topic="other-weights",
        strategy="fedasync",
        rounds=3,
    )
    reader = TrainingReader.open(local_stack.chain.address, second)
    assert second != t.aggregator.address and reader.platform() == platform
    assert (reader.info().aggregator, reader.info().rounds, reader.info().budget) == (other, 3, 1000)
    created = (
        contract(t.aggregator, "TrainingFactory", platform.factory)
        .events.TrainingCreated()
        .get_logs(from_block=reader.info().created_block, to_block=reader.info().created_block)
    )
    assert [(e["args"]["training"], e["args"]["aggregator"]) for e in created] == [(second, other)]


def test_only_the_platform_admin_creates_trainings(local_stack):
    t = deploy(local_stack)
    token = t.aggregator.info().token
    for name in ("client-1", "client-3"):
        outsider = local_stack.account(name)
        with pytest.raises(Unauthorized) as error:
            create(local_stack, outsider.private_key(), token, fresh_address())
        assert error.value.args_by_name["caller"].lower() == outsider.address.lower()
    with pytest.raises(Unauthorized):  # nor a training's aggregator
        create(local_stack, t.aggregator.sender.account.key.hex(), token, fresh_address())
    admin = local_stack.account("platform").private_key()
    with pytest.raises(LedgerError, match="not a reward token|no reward token"):
        create(local_stack, admin, t.aggregator.address, fresh_address())  # a training, not a token
    with pytest.raises(ValueError, match="budget"):
        create(local_stack, admin, token, fresh_address(), budget=2**96)


def test_a_training_is_aggregated_by_an_account_of_its_own(local_stack):
    """Issue 10 (1): the factory refuses the admin (or nobody) as a training's aggregator."""
    t = deploy(local_stack)
    token = t.aggregator.info().token
    platform = local_stack.account("platform")
    with pytest.raises(InvalidAggregator) as error:
        create(local_stack, platform.private_key(), token, platform.address)
    assert error.value.args_by_name["aggregator"].lower() == platform.address.lower()
    with pytest.raises(InvalidAggregator):
        create(local_stack, platform.private_key(), token, "0x" + "00" * 20)


def test_creating_a_training_again_for_the_same_aggregator_returns_it(local_stack, tmp_path):
    """Issue 10 (9): a platform that crashed after the creation transaction but before storing the
    address creates nothing new when it retries: the factory's event names the aggregator's training."""
    t = deploy(local_stack)
    token = t.aggregator.info().token
    admin = local_stack.account("platform")
    w3 = t.aggregator.rpc.w3
    aggregator = new_account(tmp_path / "aggregator.key")
    settings = digest("settings")
    first = create(local_stack, admin.private_key(), token, aggregator.address, rounds=5, settings_hash=settings)
    sent = w3.eth.get_transaction_count(admin.address)
    again = create(local_stack, admin.private_key(), token, aggregator.address, rounds=5, settings_hash=settings)
    assert again == first and w3.eth.get_transaction_count(admin.address) == sent  # no transaction
    # The same account asked for another training: refused, not silently answered with the old one.
    with pytest.raises(LedgerError, match="with other parameters"):
        create(local_stack, admin.private_key(), token, aggregator.address, rounds=6, settings_hash=settings)
    assert TrainingReader.open(local_stack.chain.address, first).info().aggregator == aggregator.address
    # Another aggregator gets another training.
    other = create(local_stack, admin.private_key(), token, fresh_address(), rounds=5)
    assert other != first and w3.eth.get_transaction_count(admin.address) == sent + 1


def test_a_clone_is_initialised_once_and_only_by_its_factory(local_stack):
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    training = contract(t.aggregator, "FederatedLearning", t.aggregator.address)
    data = training.encode_abi("initialize", args=["evil-topic", "evil"])
    for caller in (t.aggregator.account, t.outsider.account, platform.token):
        with pytest.raises(Unauthorized):
            call_as(t.aggregator, caller, t.aggregator.address, data)
    with pytest.raises(AlreadyInitialized):  # even the factory could not do it a second time
        call_as(t.aggregator, platform.factory, t.aggregator.address, data)
    assert t.aggregator.info().weights_topic == WEIGHTS_TOPIC


def test_the_implementation_itself_is_inert(local_stack):
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    implementation = contract(t.aggregator, "FederatedLearning", platform.implementation)
    assert Phase(implementation.functions.phase().call()) == Phase.FINISHED
    initialize = implementation.encode_abi("initialize", args=["t", "s"])
    with pytest.raises(Unauthorized):
        call_as(t.aggregator, t.outsider.account, platform.implementation, initialize)
    with pytest.raises(AlreadyInitialized):
        call_as(t.aggregator, platform.factory, platform.implementation, initialize)
    register = implementation.encode_abi("registerClients", args=[[t.outsider.account], [1]])
    submit = implementation.encode_abi("submitUpdate", args=[digest("u"), pack_update(0, 1, 0, 0, 1)])
    claim = implementation.encode_abi("claim", args=[])
    for caller in (t.aggregator.account, t.outsider.account, platform.factory):
        with pytest.raises((Unauthorized, WrongPhase)):
            call_as(t.aggregator, caller, platform.implementation, register)
        with pytest.raises(NotRegisteredClient):
            call_as(t.aggregator, caller, platform.implementation, submit)
        with pytest.raises(NotRegisteredClient):
            call_as(t.aggregator, caller, platform.implementation, claim)


def test_only_the_platforms_trainings_mint_and_only_what_they_credited(local_stack):
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    token = contract(t.aggregator, "RewardToken", platform.token)
    mint = token.encode_abi("mint", args=[t.outsider.account, 10**18])
    grant = token.encode_abi("grantRole", args=[MINTER_ROLE, t.outsider.account])
    for caller in (t.aggregator, t.clients[0], t.outsider):  # the platform account included
        with pytest.raises(AccessControlUnauthorizedAccount):
            caller.sender.transact({"to": platform.token, "data": mint}, "mint")
        with pytest.raises(AccessControlUnauthorizedAccount):
            caller.sender.transact({"to": platform.token, "data": grant}, "grant")

    # A clone of the same implementation made outside the factory (its "aggregator" an attacker):
    # it cannot be initialised, so it never runs, and the token does not let it mint.
    attacker = t.outsider
    foreign = foreign_clone(
        attacker, platform.implementation, aggregator=attacker.account, token=platform.token
    )
    initialize = contract(t.aggregator, "FederatedLearning", foreign).encode_abi(
        "initialize", args=["t", "s"]
    )
    with pytest.raises(Unauthorized):
        call_as(t.aggregator, attacker.account, foreign, initialize)
    with pytest.raises(AccessControlUnauthorizedAccount):
        call_as(t.aggregator, foreign, platform.token, mint)
    assert not token.functions.hasRole(MINTER_ROLE, foreign).call()

    # A real training mints exactly what it credited, once.
    update = digest("u")
    t.submit(0, update)
    t.aggregator.record_round(digest("v1"), global_pointer(1), [UpdateOutcome(update, True, 12)])
    t.aggregator.finish()
    with pytest.raises(Unauthorized):  # the admin pays no training either
        t.admin.pay_rewards()
    supply = token.functions.totalSupply().call()
    t.aggregator.pay_rewards()
    t.aggregator.pay_rewards()  # nothing left to pay
    assert token.functions.totalSupply().call() == supply + 12
    assert t.aggregator.token_balance(t.clients[0].account) == 12
    with pytest.raises(ContractRevert):
        t.clients[0].claim()


def test_a_clone_made_outside_the_factory_is_refused_by_readers(local_stack):
    """Issue 10 (9): ``platform()`` (what ``kafkaml audit`` checks) refuses an EIP-1167 clone of the
    platform's implementation that its factory did not create, and ``info()`` of such a clone,
    never initialised, says so instead of failing obscurely."""
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    rpc_url = local_stack.chain.address
    created = t.aggregator.info().created_block  # a block with a real training's creation in it
    for created_block in (1, created):
        foreign = foreign_clone(
            t.outsider,
            platform.implementation,
            aggregator=t.outsider.account,
            token=platform.token,
            created_block=created_block,
        )
        reader = TrainingReader.open(rpc_url, foreign)
        with pytest.raises(LedgerError, match="never initialised"):
            reader.info()
        with pytest.raises(LedgerError):
            TrainingReader.open(rpc_url, foreign).platform()
        with pytest.raises(LedgerError):
            TrainingReader.open(rpc_url, foreign).history()
    # Not a clone at all (the token), or a clone of something else (of the token's code).
    with pytest.raises(LedgerError, match="not a training clone"):
        TrainingReader.open(rpc_url, platform.token).platform()
    fake = foreign_clone(t.outsider, platform.token, aggregator=t.outsider.account, token=platform.token)
    with pytest.raises(LedgerError):
        TrainingReader.open(rpc_url, fake).platform()
    assert TrainingReader.open(rpc_url, t.aggregator.address).platform() == platform  # the real one passes


def test_a_look_alike_training_on_another_implementation_is_refused(local_stack):
    """An attacker deploys FederatedLearning itself (so it may initialise clones of it), clones it
    with the platform's token among the arguments and initialises the clone: it looks like one of
    the platform's trainings to anyone reading its events, but ``platform()`` refuses it, as its
    implementation is not the factory's, and the token never lets it mint."""
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    rpc_url = local_stack.chain.address
    attacker = t.outsider
    w3 = attacker.rpc.w3
    own_implementation = deploy_contract(
        attacker.sender, load_artifact("FederatedLearning"), [], "look-alike"
    )
    head = w3.eth.block_number  # automine: the clone is created in head + 1, initialised in head + 2
    look_alike = foreign_clone(
        attacker,
        own_implementation,
        aggregator=attacker.account,
        token=platform.token,
        created_block=head + 2,
    )
    training = contract(attacker, "FederatedLearning", look_alike)
    attacker.sender.transact(
        {"to": look_alike, "data": training.encode_abi("initialize", args=[WEIGHTS_TOPIC, "fedavg"])}, "init"
    )
    reader = TrainingReader.open(rpc_url, look_alike)
    info = reader.info()  # it is an initialised training: its events say so
    assert (info.token, info.aggregator, info.weights_topic) == (
        platform.token,
        attacker.account,
        WEIGHTS_TOPIC,
    )
    with pytest.raises(LedgerError, match="not of the implementation"):
        reader.platform()
    # Run by the attacker to the payout, it still mints nothing.
    fake = AggregatorLedger.open(rpc_url, look_alike, key_of(attacker))
    accomplice = t.clients[0]
    fake.register_clients({accomplice.account: 1})
    fake.start(digest("genesis"), global_pointer(0), digest("announcement"))
    TrainerLedger.open(rpc_url, look_alike, key_of(accomplice)).submit_update(
        0, update := digest("u"), update_pointer(0, accomplice.account), 1
    )
    fake.record_round(digest("v1"), global_pointer(1), [UpdateOutcome(update, True, 10**18)])
    fake.finish()
    with pytest.raises(AccessControlUnauthorizedAccount):
        fake.pay_rewards()
    assert fake.token_balance(accomplice.account) == 0


def test_a_clone_claiming_a_creation_block_in_the_future_fails_clearly(local_stack):
    t = deploy(local_stack)
    platform = t.aggregator.platform()
    foreign = foreign_clone(
        t.outsider,
        platform.implementation,
        aggregator=t.outsider.account,
        token=platform.token,
        created_block=10**9,
    )
    with pytest.raises(LedgerError, match="after the chain's head: it is no training of a factory"):
        TrainingReader.open(local_stack.chain.address, foreign).info()
