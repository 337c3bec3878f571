"""Talking to the node safely: retried RPC calls, one nonce sequence per key, receipts with a timeout.

Why these pieces exist:

* **Retries.** A node restart or a dropped connection must not fail a training that runs for
  hours, so every RPC call is retried with exponential back-off for a bounded time
  (``KAFKAML_ETH_RPC_RETRY_S``) and only then raises :class:`LedgerUnavailable`.
* **Sign once, re-broadcast the same bytes.** A transaction is signed exactly once; whenever we
  are unsure whether the node got it (a timeout while sending, a node that restarted from an
  older state dump), we broadcast the *same* signed bytes again. The node either already knows
  them, or mines them now: the same nonce can never produce two different transactions, which is
  what makes retrying safe.
* **Nonces.** Several transactions from one key may be in flight (e.g. threads of one job), so
  nonces are handed out under a lock from a local counter initialised from the node's pending
  count and re-read whenever the node says the counter is off.
* **Errors.** Gas is estimated before sending, so most reverts surface before a nonce is spent,
  as typed errors (:mod:`kafkaml.ledger.errors`). A transaction that is mined but reverted
  (the state changed in between) is replayed as a call at its block to recover the reason.
* **Keys.** The private key lives only inside an eth-account ``LocalAccount``; nothing here
  formats it into a message or a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint

from kafkaml.config import Setting, declare
from kafkaml.ledger.doorbell import websocket_url
from kafkaml.ledger.errors import (
    ContractRevert,
    ErrorDecoder,
    LedgerError,
    LedgerUnavailable,
    TransactionTimeout,
)
from kafkaml.ledger.node_http import NodeProvider

log = logging.getLogger(__name__)
T = TypeVar("T")

SETTINGS = declare(
    "Ledger client (blockchain coordination)",
    Setting(
        "KAFKAML_ETH_TX_TIMEOUT_S",
        "Seconds to wait for a transaction's receipt before giving up.",
        kind="float",
        default=120.0,
        minimum=1.0,
    ),
    Setting(
        "KAFKAML_ETH_RPC_RETRY_S",
        "Seconds to keep retrying an Ethereum node that does not answer.",
        kind="float",
        default=60.0,
        minimum=0.0,
    ),
    Setting(
        "KAFKAML_ETH_LOG_PAGE_BLOCKS",
        "Blocks per eth_getLogs request when reading a training's events.",
        kind="int",
        default=5000,
        minimum=1,
    ),
    Setting(
        "KAFKAML_ETH_POLL_MAX_S",
        "Longest pause between two polls while waiting for updates or receipts.",
        kind="float",
        default=2.0,
        minimum=0.05,
    ),
    Setting(
        "KAFKAML_ETH_WS_URL",
        "Websocket URL of the node, where jobs subscribe to their training's logs so that a wait ends "
        "when something happened instead of at the next poll; empty: the RPC URL with ws(s):// (Anvil "
        "and Hardhat serve both on one port); none: poll only. Polling is the fallback either way.",
        default="",
        secret=True,
    ),
)

TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, TimeoutError)
_ALREADY_SENT = ("already known", "nonce too low", "known transaction", "replacement transaction underpriced")
GAS_MARGIN = 1.25
TRANSFER_GAS = 21_000  # a plain ether transfer to an account without code
#: Fees are reused for this long: two RPC calls less per transaction. The cap (twice the base fee
#: plus the tip) still covers the base fee after it has risen by its maximum (12.5 %) in every
#: block for five blocks, far more than can happen in this time.
FEE_REUSE_S = 2.0


def current_fees(rpc: Rpc) -> dict[str, int]:
    """The fee fields of a transaction sent now: an EIP-1559 cap of twice the base fee plus the
    tip, or the node's gas price on a chain without EIP-1559."""
    block = rpc(lambda: rpc.w3.eth.get_block("latest"))
    base_fee = block.get("baseFeePerGas")
    if base_fee is None:  # a chain without EIP-1559
        return {"gasPrice": rpc(lambda: rpc.w3.eth.gas_price)}
    priority = rpc(lambda: rpc.w3.eth.max_priority_fee)
    return {"maxFeePerGas": 2 * base_fee + priority, "maxPriorityFeePerGas": priority, "type": 2}


def revert_data(exc: Web3RPCError) -> str | dict[str, Any] | None:
    """The revert data of an RPC error that reports an execution revert (JSON-RPC code 3), as
    the node gives it (the decoder unwraps the nodes that wrap it)."""
    error = (exc.rpc_response or {}).get("error")
    if not isinstance(error, dict) or error.get("code") != 3:
        return None
    return error.get("data") or None


def fee_cap(fees: dict[str, int]) -> int:
    """The most a transaction with ``fees`` pays per gas."""
    return fees.get("maxFeePerGas", fees.get("gasPrice", 0))


def load_account(key: str) -> LocalAccount:
    """An eth-account signer for a hex private key; the error never quotes the key."""
    try:
        return Account.from_key(key)
    except (ValueError, TypeError):
        raise LedgerError("the private key is not a valid 32-byte hex key") from None


def public_url(url: str) -> str:
    """``scheme://host:port`` of a node URL: hosted nodes carry API keys in the path or user part."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class Rpc:
    """A Web3 connection whose calls are retried with back-off while the node is unreachable."""

    def __init__(self, url: str, *, retry_s: float | None = None, request_timeout_s: float = 10.0) -> None:
        settings = SETTINGS.load()
        self.public_url = public_url(url)
        self.retry_s = settings["KAFKAML_ETH_RPC_RETRY_S"] if retry_s is None else retry_s
        self.poll_max_s = settings["KAFKAML_ETH_POLL_MAX_S"]
        self.log_page_blocks = settings["KAFKAML_ETH_LOG_PAGE_BLOCKS"]
        self.websocket_url = websocket_url(url, settings["KAFKAML_ETH_WS_URL"])
        # web3's validation middleware asks the node for its chain id before every eth_call and gas
        # estimate, doubling the round trips of a poll; a node's chain id never changes, so it is
        # asked once and remembered (nothing else is cached: every other answer is read anew).
        provider = NodeProvider(
            url, timeout_s=request_timeout_s,
            cache_allowed_requests=True, cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        self.w3 = Web3(provider)

    def __call__(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one RPC round trip), retrying transient failures for up to ``retry_s``."""
        deadline = time.monotonic() + self.retry_s
        delay = 0.1
        while True:
            try:
                return fn()
            except (*TRANSIENT, requests.exceptions.HTTPError) as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise LedgerUnavailable(
                        f"the Ethereum node at {self.public_url} did not answer for "
                        f"{self.retry_s:.0f} s ({type(exc).__name__})"
                    ) from None
                log.warning(
                    "Ethereum node at %s unreachable (%s); retrying in %.1f s",
                    self.public_url,
                    type(exc).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self.poll_max_s)

    def chain_id(self) -> int:
        return self(lambda: self.w3.eth.chain_id)

    def block_number(self) -> int:
        return self(lambda: self.w3.eth.block_number)


def _transient(exc: Exception) -> bool:
    """Connection failures and timeouts, and HTTP 5xx from a node or a proxy in front of it."""
    if isinstance(exc, requests.exceptions.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    return True


@dataclass
class PendingTx:
    """A signed transaction that was broadcast; ``raw`` is kept to re-broadcast the same bytes."""

    tx_hash: bytes
    raw: bytes
    nonce: int
    description: str
    call: dict[str, Any]


class Sender:
    """Signs and sends transactions from one key, with a nonce sequence shared by threads."""

    def __init__(
        self, rpc: Rpc, account: LocalAccount, decoder: ErrorDecoder, timeout_s: float | None = None
    ) -> None:
        self.rpc = rpc
        self.account = account
        self.address = account.address
        self.decoder = decoder
        self.timeout_s = SETTINGS.load()["KAFKAML_ETH_TX_TIMEOUT_S"] if timeout_s is None else timeout_s
        self._chain_id = rpc.chain_id()
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._fees_until = 0.0
        self._cached_fees: dict[str, int] = {}

    def __repr__(self) -> str:  # never the key
        return f"Sender({self.address})"

    def transact(self, call: dict[str, Any], description: str) -> dict[str, Any]:
        """Send ``call`` ({"to"?, "data"}) and return its successful receipt; reverts raise typed errors."""
        return self.wait(self.send(call, description))

    def call(self, call: dict[str, Any]) -> bytes:
        """eth_call from this account; a revert raises its typed error."""
        request = {"from": self.address, **call}
        try:
            return self.rpc(lambda: self.rpc.w3.eth.call(request))
        except ContractLogicError as exc:
            raise self.decoder.decode(exc.data) from None

    def send(self, call: dict[str, Any], description: str) -> PendingTx:
        """Estimate, sign with the next nonce and broadcast; returns without waiting for the receipt."""
        request = {"from": self.address, **call}
        gas = self._estimate(request)
        fees = self._fees()
        with self._lock:
            for attempt in range(2):
                if self._next_nonce is None:
                    self._next_nonce = self.rpc(
                        lambda: self.rpc.w3.eth.get_transaction_count(self.address, "pending")
                    )
                tx = {**request, "nonce": self._next_nonce, "gas": gas, "chainId": self._chain_id, **fees}
                signed = self.account.sign_transaction(tx)
                try:
                    self._broadcast(signed.raw_transaction)
                except Web3RPCError as exc:
                    reverted = revert_data(exc)
                    if reverted is not None:
                        # A node that runs a transaction as it receives it (Hardhat's automine) answers
                        # its revert: the state changed since the estimate (the training finished,
                        # say). Whether it used the nonce is the node's to say: read it again.
                        self._next_nonce = None
                        raise self.decoder.decode(reverted) from None
                    # The node disagrees about our nonce (another sender for this key, or a transaction
                    # of ours it received although we saw an error) or our fees: re-read both and
                    # retry once.
                    self._next_nonce = None
                    if attempt == 0:
                        self._fees_until = 0.0
                        fees = self._fees()
                        continue
                    raise LedgerError(f"{description}: the node rejected the transaction: {exc}") from None
                except LedgerUnavailable:
                    self._next_nonce = None  # unknown whether the node got it: re-read before the next send
                    raise
                pending = PendingTx(
                    bytes(signed.hash), bytes(signed.raw_transaction), tx["nonce"], description, call
                )
                self._next_nonce += 1
                log.debug(
                    "sent %s from %s (nonce %d, tx 0x%s)",
                    description,
                    self.address,
                    pending.nonce,
                    pending.tx_hash.hex(),
                )
                return pending
        raise AssertionError("unreachable")

    def sweep(self, to: str) -> int:
        """Send the whole balance less the transfer's fee to ``to``; the wei sent (0: the balance
        cannot pay the fee, nothing is sent). A legacy transaction priced at the fee cap pays
        exactly ``TRANSFER_GAS`` times its price, so the account is left empty, not with dust."""
        price = fee_cap(current_fees(self.rpc))
        with self._lock:
            balance = self.rpc(lambda: self.rpc.w3.eth.get_balance(self.address))
            value = balance - TRANSFER_GAS * price
            if value <= 0:
                return 0
            nonce = self.rpc(lambda: self.rpc.w3.eth.get_transaction_count(self.address, "pending"))
            call = {"to": to, "value": value, "data": b""}
            signed = self.account.sign_transaction(
                {**call, "nonce": nonce, "gas": TRANSFER_GAS, "gasPrice": price, "chainId": self._chain_id})
            self._next_nonce = None  # the next send re-reads it
            try:
                self._broadcast(signed.raw_transaction)
            except Web3RPCError as exc:
                raise LedgerError(f"sweep to {to}: the node rejected the transaction: {exc}") from None
        self.wait(PendingTx(bytes(signed.hash), bytes(signed.raw_transaction), nonce, f"sweep to {to}", call))
        return value

    def wait(self, pending: PendingTx) -> dict[str, Any]:
        """The receipt of ``pending`` once mined with status 1; re-broadcasts if the node forgot it."""
        deadline = time.monotonic() + self.timeout_s
        delay = 0.05
        while True:
            receipt = self._receipt(pending)
            if receipt is not None:
                break
            if time.monotonic() >= deadline:
                raise TransactionTimeout(
                    f"{pending.description}: no receipt for tx 0x{pending.tx_hash.hex()} "
                    f"within {self.timeout_s:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, self.rpc.poll_max_s)
        if receipt["status"] != 1:
            raise self._revert_reason(pending, receipt)
        return receipt

    def _receipt(self, pending: PendingTx) -> dict[str, Any] | None:
        try:
            return dict(self.rpc(lambda: self.rpc.w3.eth.get_transaction_receipt(pending.tx_hash)))
        except TransactionNotFound:
            pass
        try:
            self.rpc(lambda: self.rpc.w3.eth.get_transaction(pending.tx_hash))
        except TransactionNotFound:
            # The node does not know the transaction (it restarted from an older state): same bytes again.
            log.info(
                "node lost %s (tx 0x%s); broadcasting it again", pending.description, pending.tx_hash.hex()
            )
            try:
                self._broadcast(pending.raw)
            except Web3RPCError as exc:
                log.debug("re-broadcast of 0x%s answered: %s", pending.tx_hash.hex(), exc)
        return None

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.rpc(lambda: self.rpc.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            if any(text in str(exc).lower() for text in _ALREADY_SENT) and self._known(raw):
                return
            raise

    def _known(self, raw: bytes) -> bool:
        """True when the node already has (or mined) the transaction whose signed bytes are ``raw``."""
        tx_hash = Web3.keccak(raw)
        try:
            self.rpc(lambda: self.rpc.w3.eth.get_transaction(tx_hash))
            return True
        except TransactionNotFound:
            return False

    def _estimate(self, request: dict[str, Any]) -> int:
        try:
            estimate = self.rpc(lambda: self.rpc.w3.eth.estimate_gas(request))
        except ContractLogicError as exc:
            raise self.decoder.decode(exc.data) from None
        return int(estimate * GAS_MARGIN) + 10_000

    def _fees(self) -> dict[str, int]:
        if time.monotonic() < self._fees_until:
            return self._cached_fees
        self._cached_fees = self._current_fees()
        self._fees_until = time.monotonic() + FEE_REUSE_S
        return self._cached_fees

    def _current_fees(self) -> dict[str, int]:
        return current_fees(self.rpc)

    def _revert_reason(self, pending: PendingTx, receipt: dict[str, Any]) -> ContractRevert:
        request = {"from": self.address, **pending.call}
        try:
            self.rpc(lambda: self.rpc.w3.eth.call(request, receipt["blockNumber"] - 1))
        except ContractLogicError as exc:
            return self.decoder.decode(exc.data)
        return ContractRevert(
            "Reverted",
            {"tx": "0x" + pending.tx_hash.hex()},
            message=f"{pending.description} reverted (tx 0x{pending.tx_hash.hex()})",
        )
