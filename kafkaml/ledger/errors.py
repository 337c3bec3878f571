"""Typed Python exceptions for the contracts' custom errors, decoded from revert data.

Callers (the aggregator and trainer jobs) must tell "someone else already submitted this hash"
from "the training is over" from "the node is down" without parsing strings, so every custom
error of the contracts maps to one class here, carrying the error's decoded arguments. The
selectors are computed from the compiled ABI, so an error added to the contract without a class
here still decodes (as :class:`ContractRevert` with its name).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from eth_utils import keccak


class LedgerError(RuntimeError):
    """Base of every ledger error."""


class LedgerUnavailable(LedgerError):
    """The Ethereum node did not answer within the retry budget."""


class TransactionTimeout(LedgerError):
    """A sent transaction got no receipt within the timeout (it may still be mined later)."""


class ContractRevert(LedgerError):
    """A call or transaction reverted; ``name`` and ``args`` are the contract's custom error."""

    def __init__(self, name: str, args: dict[str, Any], message: str | None = None) -> None:
        self.name = name
        self.args_by_name = args
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(message or f"{name}({shown})")


class Unauthorized(ContractRevert):
    """Only the aggregator (the platform account that created the training) may do this; only the
    platform admin may create trainings; only the factory may initialise one."""


class NotRegisteredClient(ContractRevert):
    """The sender is not a client the aggregator registered."""


class WrongPhase(ContractRevert):
    """The training is not in the lifecycle phase this function needs."""


class InvalidClient(ContractRevert):
    """A client address that cannot be registered (zero or the aggregator itself)."""


class AlreadyRegistered(ContractRevert):
    """The client is registered already."""


class InvalidHash(ContractRevert):
    """A content hash of zero."""


class InvalidPointer(ContractRevert):
    """An empty topic, an empty offset range or one longer than the contract can store."""


class InvalidSamples(ContractRevert):
    """An update must be trained on at least one sample."""


class UnknownBaseVersion(ContractRevert):
    """The update claims a base version newer than the latest global version."""


class UpdatePending(ContractRevert):
    """The client already has an update waiting in the queue: one pending update per client."""


class EmptyRound(ContractRevert):
    """A round must consume at least one queued update."""


class NotQueued(ContractRevert):
    """A round names a client whose pending update is not the queue's next (consumed or skipped)."""


class BudgetExceeded(ContractRevert):
    """The round would credit more than the training's reward budget."""


class InvalidAggregator(ContractRevert):
    """A training's aggregator must be an account of its own, not zero and not the platform admin."""


class InvalidVerdict(ContractRevert):
    """A verdict word is neither a reward (below 2^88) nor a reason (first byte not zero)."""


class RoundLimitReached(ContractRevert):
    """The training has published as many versions as its configured rounds."""


class NothingToClaim(ContractRevert):
    """The client has no unpaid reward."""


class AlreadyInitialized(ContractRevert):
    """A training clone is initialised once, by its factory, when it is created."""


class AccessControlUnauthorizedAccount(ContractRevert):
    """The reward token refused a mint or role change from an account without the role."""


class PanicError(ContractRevert):
    """Solidity panic (an arithmetic overflow or similar invariant failure)."""


_CLASSES: dict[str, type[ContractRevert]] = {
    cls.__name__: cls for cls in ContractRevert.__subclasses__() if cls is not PanicError
}


class ErrorDecoder:
    """Turns revert data into the matching :class:`ContractRevert` subclass, using ABIs' error entries."""

    def __init__(self, *abis: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in entry["inputs"]]
                selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                self._by_selector[selector] = (entry["name"], [i["name"] for i in entry["inputs"]], types)

    def decode(self, data: bytes | str | dict[str, Any] | None) -> ContractRevert:
        raw = _to_bytes(data)
        selector, body = raw[:4], raw[4:]
        if selector == keccak(text="Panic(uint256)")[:4]:
            (code,) = decode(["uint256"], body)
            return PanicError("Panic", {"code": code})
        if selector == keccak(text="Error(string)")[:4]:
            (text,) = decode(["string"], body)
            return ContractRevert("Error", {"message": text}, message=text)
        known = self._by_selector.get(selector)
        if known is None:
            return ContractRevert("UnknownRevert", {"data": "0x" + raw.hex()})
        name, names, types = known
        values = decode(types, body) if types else ()
        return _CLASSES.get(name, ContractRevert)(name, dict(zip(names, values, strict=True)))


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def _to_bytes(data: bytes | str | dict[str, Any] | None) -> bytes:
    if isinstance(data, dict):  # some nodes wrap the revert data: {"data": "0x..."}
        data = data.get("data")
    if data is None:
        return b""
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data)


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
