"""The contracts' artefacts and the helpers every holder of a training's ledger shares.

The compiled ABIs are loaded on first use (so ``contracts/build.py`` can import this package
before a first build); the views' selectors and types are read from the ABI once, for
:meth:`~kafkaml.ledger.reader.TrainingReader._view`'s raw ``eth_call``.
"""

from __future__ import annotations

import functools
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from kafkaml.config import read_secret
from kafkaml.ledger import errors
from kafkaml.ledger.compiler import CONTRACTS, load_artifact
from kafkaml.ledger.events import Event, pack_pointer
from kafkaml.ledger.records import SubmittedUpdate
from kafkaml.ledger.transactions import Rpc, Sender, load_account
from kafkaml.pointers import WeightsPointer
from kafkaml.topics import update_topic


@functools.cache
def view_abi() -> dict[str, tuple[bytes, tuple[str, ...], tuple[str, ...]]]:
    """Each view of the training contract: its selector, argument types and result types."""
    views = {}
    for item in artifact("FederatedLearning")["abi"]:
        if item.get("type") == "function" and item.get("stateMutability") in ("view", "pure"):
            inputs = tuple(argument["type"] for argument in item["inputs"])
            outputs = tuple(result["type"] for result in item["outputs"])
            views[item["name"]] = (keccak(text=f"{item['name']}({','.join(inputs)})")[:4], inputs, outputs)
    return views


@functools.cache
def artifact(name: str) -> dict[str, Any]:
    """Loaded on first use, so that ``contracts/build.py`` can import this package before a first build."""
    return load_artifact(name)


@functools.cache
def error_decoder() -> errors.ErrorDecoder:
    return errors.ErrorDecoder(*(artifact(name)["abi"] for name in CONTRACTS))


def signer(rpc: Rpc, key: str | None) -> Sender:
    """A sender for ``key``, or for ETH_WALLET_KEY(_FILE) when no key is passed."""
    return Sender(rpc, load_account(key if key is not None else read_secret("ETH_WALLET_KEY")), error_decoder())


def factory_contract(rpc: Rpc, address: str) -> Any:
    return rpc.w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=artifact("TrainingFactory")["abi"]
    )


def factory_of(rpc: Rpc, token_address: str) -> str:
    """The TrainingFactory that created the token at ``token_address`` (its ``factory()``)."""
    token = rpc.w3.eth.contract(
        address=Web3.to_checksum_address(token_address), abi=artifact("RewardToken")["abi"]
    )
    if not rpc(lambda: rpc.w3.eth.get_code(token.address)):
        raise errors.LedgerError(f"no reward token at {token.address} on {rpc.public_url}")
    try:
        factory = rpc(lambda: token.functions.factory().call())
    except (ContractLogicError, BadFunctionCallOutput):
        raise errors.LedgerError(
            f"{token.address} is not a reward token created by a TrainingFactory"
        ) from None
    if not rpc(lambda: rpc.w3.eth.get_code(factory)):
        raise errors.LedgerError(f"the reward token at {token.address} was not created by a TrainingFactory")
    return factory


def trainings_of(rpc: Rpc, factory: Any, aggregator: str) -> list[str]:
    """The trainings ``factory`` created for ``aggregator``, oldest first (TrainingCreated events)."""
    logs = rpc(lambda: factory.events.TrainingCreated().get_logs(
        from_block=0, argument_filters={"aggregator": aggregator}))
    return [Web3.to_checksum_address(entry["args"]["training"]) for entry in logs]


def deploy_contract(sender: Sender, artifact: dict[str, Any], args: list[Any], description: str) -> str:
    constructor = sender.rpc.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        *args
    )
    receipt = sender.transact({"data": constructor.data_in_transaction}, description)
    return Web3.to_checksum_address(receipt["contractAddress"])


def pointer_word(pointer: WeightsPointer) -> int:
    return pack_pointer(pointer.partition, pointer.start_offset, pointer.end_offset)


def pointer_from_event(topic: str, args: dict[str, Any]) -> WeightsPointer:
    return WeightsPointer(topic, args["partition"], args["startOffset"], args["endOffset"])


def submission_from_event(seq: int, event: Event, weights_topic: str) -> SubmittedUpdate:
    a = event.args
    return SubmittedUpdate(
        seq,
        a["client"],
        a["baseVersion"],
        bytes(a["contentHash"]),
        pointer_from_event(update_topic(weights_topic, a["client"]), a),
        a["samples"],
        event.block,
        event.tx_hash,
    )
