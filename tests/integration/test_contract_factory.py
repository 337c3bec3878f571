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
    AlreadyInitialized,
    ContractRevert,
    Ledger,
    LedgerError,
    NotRegisteredClient,
    Phase,
    Unauthorized,
    UpdateOutcome,
    WrongPhase,
)
from kafkaml.ledger.client import _decoder
from kafkaml.ledger.compiler import load_artifact
from kafkaml.ledger.errors import AccessControlUnauthorizedAccount
from kafkaml.ledger.events import pack_update
from tests.integration.ledger_fixtures import WEIGHTS_TOPIC, deploy, digest, global_pointer

MINTER_ROLE = Web3.keccak(text="MINTER_ROLE")


def contract(ledger: Ledger, name: str, address: str) -> Any:
    return ledger.rpc.w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def call_as(ledger: Ledger, sender: str, to: str, data: str) -> None:
    """eth_call from any address (the node does not check a signature for a call)."""
    try:
        ledger.rpc.w3.eth.call({"from": sender, "to": to, "data": data})
    except ContractLogicError as exc:
        raise _decoder().decode(exc.data) from None


def test_a_training_is_a_small_clone_carrying_its_parameters(local_stack):
    t = deploy(local_stack, rounds=7)
    platform = t.aggregator.platform()
    code = bytes(t.aggregator.rpc.w3.eth.get_code(t.aggregator.address))
    assert len(code) == 45 + 84  # the EIP-1167 proxy plus the packed arguments
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
    token = contract(t.aggregator, "RewardToken", platform.token).functions
    assert token.factory().call() == platform.factory
    assert token.hasRole(MINTER_ROLE, t.aggregator.address).call()
    assert not token.hasRole(bytes(32), t.aggregator.account).call()  # the platform is not the token's admin
    assert token.hasRole(bytes(32), platform.factory).call()
    second = Ledger.deploy(
        local_stack.chain.address,
        local_stack.account("platform").private_key(),
        token_address=platform.token,
        settings_hash=digest("other"),
        weights_topic="other-weights",
        strategy="fedasync",
        rounds=3,
    )
    assert second.address != t.aggregator.address and second.platform() == platform


def test_only_the_platform_admin_creates_trainings(local_stack):
    t = deploy(local_stack)
    token = t.aggregator.info().token
    for name in ("client-1", "client-3"):
        outsider = local_stack.account(name)
        with pytest.raises(Unauthorized) as error:
            Ledger.deploy(
                local_stack.chain.address,
                outsider.private_key(),
                token_address=token,
                settings_hash=digest("s"),
                weights_topic="w",
                strategy="fedavg",
                rounds=2,
            )
        assert error.value.args_by_name["caller"].lower() == outsider.address.lower()
    with pytest.raises(LedgerError, match="not a reward token|no reward token"):
        Ledger.deploy(
            local_stack.chain.address,
            local_stack.account("platform").private_key(),
            token_address=t.aggregator.address,  # a training, not a token
            settings_hash=digest("s"),
            weights_topic="w",
            strategy="fedavg",
            rounds=2,
        )


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
    register = implementation.encode_abi("registerClients", args=[[t.outsider.account]])
    submit = implementation.encode_abi("submitUpdateTo", args=[digest("u"), pack_update(0, 1, 0, 0, 1), "t"])
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
    args = (
        bytes.fromhex(attacker.account[2:])
        + bytes.fromhex(platform.token[2:])
        + (5).to_bytes(4, "big")
        + (1).to_bytes(8, "big")
        + digest("s")
    )
    runtime = (
        bytes.fromhex("363d3d373d3d3d363d73")
        + bytes.fromhex(platform.implementation[2:])
        + bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
        + args
    )
    initcode = (
        bytes.fromhex("61") + len(runtime).to_bytes(2, "big") + bytes.fromhex("3d81600a3d39f3") + runtime
    )
    receipt = attacker.sender.transact({"data": "0x" + initcode.hex()}, "deploy a foreign clone")
    foreign = Web3.to_checksum_address(receipt["contractAddress"])
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
    supply = token.functions.totalSupply().call()
    t.aggregator.pay_rewards()
    t.aggregator.pay_rewards()  # nothing left to pay
    assert token.functions.totalSupply().call() == supply + 12
    assert t.aggregator.token_balance(t.clients[0].account) == 12
    with pytest.raises(ContractRevert):
        t.clients[0].claim()
