"""The HTTP transport to an Ethereum node: web3's ``HTTPProvider`` sending through urllib3.

A blockchain training's jobs make about a thousand JSON-RPC calls in 20 rounds of 2 clients, on
the cores that train. Measured against a local Anvil, one call costs 0.47 ms of processor time
through a requests session and 0.19 ms through a urllib3 connection pool (requests itself sends
with urllib3; the rest is its per-request machinery: hooks, cookies, settings merged again). So
web3 encodes and decodes as always, and only the POST goes to urllib3.

What requests would honour is kept, read once per node: the proxy of the environment
(``HTTP(S)_PROXY``, ``NO_PROXY``) and its CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``).
Failures are raised as requests' exceptions, the ones web3's own provider raises, so that
:class:`kafkaml.ledger.transactions.Rpc` retries exactly what it retried before.
"""

from __future__ import annotations

import os
from typing import Any

import certifi
import requests
import urllib3
from web3 import HTTPProvider
from web3.types import RPCEndpoint

#: Connections kept open to one node: a job's threads (its loop, a doorbell's fallback poll)
#: rarely call at once, and a call that finds none free opens one more instead of waiting.
POOL_CONNECTIONS = 2


def node_pool(url: str) -> urllib3.PoolManager:
    """The connection pool of one node, through the environment's proxy when one applies to it."""
    proxies = requests.utils.get_environ_proxies(url)  # honours NO_PROXY, as requests does
    scheme = url.split(":", 1)[0].lower()
    proxy = proxies.get(scheme) or proxies.get("all")
    options: dict[str, Any] = {
        "maxsize": POOL_CONNECTIONS,
        "retries": False,  # Rpc retries, with its back-off and its log line
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where(),
    }
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


class NodeProvider(HTTPProvider):
    """web3's HTTP provider (its encoding, decoding and request cache) over a urllib3 pool."""

    def __init__(self, url: str, *, timeout_s: float, **kwargs: Any) -> None:
        super().__init__(url, exception_retry_configuration=None, **kwargs)
        self._pool = node_pool(url)
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._headers = self.get_request_headers()

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        try:
            response = self._pool.request("POST", self.endpoint_uri, body=request_data, headers=self._headers,
                                          timeout=self._timeout, retries=False)
        except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: it is one too
            raise requests.exceptions.ConnectionError(str(exc)) from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise requests.exceptions.Timeout(str(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:  # reset, refused by a proxy, broken TLS
            raise requests.exceptions.ConnectionError(str(exc)) from exc
        if response.status >= 400:
            failed = requests.Response()
            failed.status_code = response.status
            raise requests.exceptions.HTTPError(f"the node answered {method} with HTTP {response.status}",
                                                response=failed)
        return response.data
