"""A chain node's JSON-RPC in plain HTTP: the few calls made where web3 is not needed and its
start-up (over a second of imports, :mod:`kafkaml.ledger`) is not worth paying, such as asking
whether a node answers and which chain it serves."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def rpc(rpc_url: str, method: str, params: list[Any], timeout_s: float) -> Any:
    """The ``result`` of one JSON-RPC call; raises ``OSError``/``ValueError``/``KeyError`` when the
    node does not answer or answers something else."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(rpc_url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())["result"]


def chain_id_of(rpc_url: str, timeout_s: float = 2.0) -> int | None:
    """The node's ``eth_chainId``, or None when it does not answer."""
    try:
        return int(rpc(rpc_url, "eth_chainId", [], timeout_s), 16)
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
