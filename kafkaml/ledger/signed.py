"""A training's contract as the holder of a key sends to it: the base of the aggregator's and a
client's ledger. Every write goes through :class:`~kafkaml.ledger.transactions.Sender` (receipt,
status, typed revert, retries)."""

from __future__ import annotations

import typing
from typing import Any

from kafkaml.ledger.contracts import signer
from kafkaml.ledger.reader import TrainingReader
from kafkaml.ledger.transactions import Rpc, Sender


class SignedLedger(TrainingReader):
    """A training read and written as one account."""

    def __init__(self, rpc: Rpc, sender: Sender, address: str) -> None:
        super().__init__(rpc, address)
        self.sender = sender
        #: The hash and gas of this ledger's last transaction (what reports show per round).
        self.last_transaction: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address} as {self.account})"

    @property
    def account(self) -> str:
        """The address this ledger signs as."""
        return self.sender.address

    @classmethod
    def open(cls, rpc_url: str, contract_address: str, key: str | None = None) -> typing.Self:  # type: ignore[override]
        """Open an existing training as the key's account (ETH_WALLET_KEY(_FILE) by default)."""
        rpc = Rpc(rpc_url)
        return cls(rpc, signer(rpc, key), contract_address)._with_code()

    def _transact(self, name: str, args: list[Any], description: str) -> dict[str, Any]:
        data = self.contract.encode_abi(name, args=args)
        call = {"to": self.address, "data": data, "accessList": self._access_list()}
        receipt = self.sender.transact(call, description)
        self.last_transaction = {"hash": "0x" + bytes(receipt["transactionHash"]).hex(),
                                 "gas": int(receipt["gasUsed"]), "block": int(receipt["blockNumber"])}
        return receipt

    def _access_list(self) -> list[dict[str, Any]]:
        """Every call of a clone delegates to its implementation, whose address is cold in each
        transaction (2,600 gas); named in the access list it costs 2,500. Storage keys are not
        listed: they belong to the clone, which the transaction already warms, and listing
        them would add the clone's own 2,400."""
        return [{"address": self.implementation(), "storageKeys": []}]
