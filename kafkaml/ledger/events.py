"""Reading a contract's events in block-range pages, decoded and in chain order.

Nodes cap ``eth_getLogs`` (by block range or result count), so ranges are read in pages of
``KAFKAML_ETH_LOG_PAGE_BLOCKS`` and a page the node refuses is halved until it answers. All of
a contract's events are fetched in one pass and decoded by their topic, which keeps the number
of requests independent of how many event types the caller wants.

The contract packs small numbers into one word, in its events and in the arguments of its
frequent calls alike (event data and calldata cost gas by the byte): :func:`pack_pointer` and
:func:`pack_update` build those words, :func:`unpack` spreads them back into named fields, so
callers see ``baseVersion``, ``samples``, ``partition``, ``startOffset`` and ``endOffset`` as
if they had been separate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from kafkaml.ledger import errors
from kafkaml.ledger.transactions import Rpc


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class _EventAbi:
    """How one event's log decodes: its indexed arguments are the topics after the first, the
    others the data. The split is made once, not at every log."""

    name: str
    order: tuple[tuple[str, str], ...]  # (name, type) of every argument, in the event's order
    in_data: tuple[tuple[str, str], ...]
    in_topics: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, item: dict[str, Any]) -> _EventAbi:
        arguments = item["inputs"]
        return cls(item["name"], tuple((a["name"], a["type"]) for a in arguments),
                   tuple((a["name"], a["type"]) for a in arguments if not a["indexed"]),
                   tuple((a["name"], a["type"]) for a in arguments if a["indexed"]))

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        values = dict(zip((name for name, _ in self.in_data), abi_decode([kind for _, kind in self.in_data], data),
                          strict=True))
        for (name, kind), topic in zip(self.in_topics, topics, strict=True):
            # A dynamic indexed argument's topic is only its hash: kept as the 32 bytes.
            values[name] = abi_decode([kind], topic)[0] if kind in _STATIC_TOPICS else topic
        return {name: Web3.to_checksum_address(values[name]) if kind == "address" else values[name]
                for name, kind in self.order}


_STATIC_TOPICS = {"address", "bool", "bytes32"} | {f"uint{n}" for n in range(8, 257, 8)}


class EventReader:
    """A contract's events, read with ``eth_getLogs`` and decoded here with eth-abi: web3's
    log formatters and ``process_log`` spent several times the round trip's processor time, and
    the aggregator and every trainer read logs a few times a round."""

    def __init__(self, rpc: Rpc, contract: Contract) -> None:
        self.rpc = rpc
        self.address = contract.address
        self._events: dict[bytes, _EventAbi] = {}
        for item in contract.abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            event = _EventAbi.of(item)
            self._events[keccak(text=f"{event.name}({','.join(kind for _, kind in event.order)})")] = event

    def read(self, from_block: int, to_block: int) -> list[Event]:
        """Every event of the contract in ``[from_block, to_block]``, in chain order."""
        decoded: list[Event] = []
        start = from_block
        page = self.rpc.log_page_blocks
        while start <= to_block:
            end = min(start + page - 1, to_block)
            response = self.rpc(lambda s=start, e=end: self.rpc.w3.provider.make_request(
                RPCEndpoint("eth_getLogs"), [{"address": self.address, "fromBlock": hex(s), "toBlock": hex(e)}]))
            if "error" in response:
                if page == 1:
                    raise errors.LedgerError(f"eth_getLogs of block {start} failed on {self.rpc.public_url}: "
                                             f"{response['error']}")
                page = max(1, page // 2)  # the node refused the range or result size: smaller pages
                continue
            for log in response["result"]:
                topics = [bytes.fromhex(topic[2:]) for topic in log["topics"]]
                if topics and topics[0] in self._events:
                    decoded.append(self._decode(self._events[topics[0]], topics[1:], log))
            start = end + 1
        return decoded

    @staticmethod
    def _decode(event: _EventAbi, topics: list[bytes], log: dict[str, Any]) -> Event:
        return Event(
            event.name,
            unpack(event.decode(topics, bytes.fromhex(log["data"][2:]))),
            int(log["blockNumber"], 16),
            int(log["logIndex"], 16),
            bytes.fromhex(log["transactionHash"][2:]),
        )


_U32 = 2**32 - 1
_U64 = 2**64 - 1


def pack_pointer(partition: int, start_offset: int, end_offset: int) -> int:
    """``partition << 128 | startOffset << 64 | endOffset`` (the contract's pointer word)."""
    if not (0 <= partition <= _U32 and 0 <= start_offset <= _U64 and 0 <= end_offset <= _U64):
        raise ValueError(f"pointer {partition}:{start_offset}-{end_offset} does not fit the contract's word")
    return partition << 128 | start_offset << 64 | end_offset


def pack_update(base_version: int, samples: int, partition: int, start_offset: int, end_offset: int) -> int:
    """``baseVersion << 192 | samples << 160 | pointer`` (the contract's update word)."""
    if not (0 <= base_version <= _U32 and 0 <= samples <= _U32):
        raise ValueError(f"base version {base_version} or sample count {samples} does not fit 32 bits")
    return base_version << 192 | samples << 160 | pack_pointer(partition, start_offset, end_offset)


def unpack(args: dict[str, Any]) -> dict[str, Any]:
    """Replace a packed ``update`` or ``pointer`` word by its fields (layouts in the contract)."""
    if "update" in args:
        word = args.pop("update")
        args["baseVersion"], args["samples"] = (word >> 192) & _U32, (word >> 160) & _U32
        args["pointer"] = word
    if "pointer" in args:
        word = args.pop("pointer")
        args["partition"] = (word >> 128) & _U32
        args["startOffset"], args["endOffset"] = (word >> 64) & _U64, word & _U64
    return args
