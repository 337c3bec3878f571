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

from web3.contract import Contract
from web3.exceptions import Web3RPCError

from kafkaml.ledger.transactions import Rpc


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: bytes


class EventReader:
    def __init__(self, rpc: Rpc, contract: Contract) -> None:
        self.rpc = rpc
        self.contract = contract
        self._events = {
            bytes.fromhex(event.topic.removeprefix("0x")): event for event in contract.all_events()
        }

    def read(self, from_block: int, to_block: int) -> list[Event]:
        """Every event of the contract in ``[from_block, to_block]``, in chain order."""
        decoded: list[Event] = []
        start = from_block
        page = self.rpc.log_page_blocks
        while start <= to_block:
            end = min(start + page - 1, to_block)
            try:
                logs = self.rpc(
                    lambda s=start, e=end: self.rpc.w3.eth.get_logs(
                        {"address": self.contract.address, "fromBlock": s, "toBlock": e}
                    )
                )
            except Web3RPCError:
                if page == 1:
                    raise
                page = max(1, page // 2)  # the node refused the range or result size: smaller pages
                continue
            decoded.extend(self._decode(log) for log in logs if bytes(log["topics"][0]) in self._events)
            start = end + 1
        return decoded

    def _decode(self, log: Any) -> Event:
        event = self._events[bytes(log["topics"][0])]
        processed = event.process_log(log)
        return Event(
            processed["event"],
            unpack(dict(processed["args"])),
            log["blockNumber"],
            log["logIndex"],
            bytes(log["transactionHash"]),
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
