"""The node's HTTP transport: the environment's proxy and CA settings as requests would read them,
and its failures retried by Rpc exactly as web3's own provider's were, against a real HTTP server
that answers as a node or a proxy in front of one may."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import certifi
import pytest
import requests
import urllib3

from kafkaml.ledger.errors import LedgerUnavailable
from kafkaml.ledger.node_http import node_pool
from kafkaml.ledger.transactions import Rpc


def test_proxies_and_no_proxy_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "anvil.kafka-ml.svc")
    hosted = node_pool("https://node.example/v3/key")
    assert isinstance(hosted, urllib3.ProxyManager) and hosted.proxy.host == "proxy.example"
    assert not isinstance(node_pool("https://anvil.kafka-ml.svc:8545"), urllib3.ProxyManager)


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/private-ca.pem")
    assert node_pool("https://node.example").connection_pool_kw["ca_certs"] == "/etc/ssl/private-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert node_pool("https://node.example").connection_pool_kw["ca_certs"] == certifi.where()


class Node(http.server.BaseHTTPRequestHandler):
    """Answers each POST with the next of the server's ``statuses`` (then 200 with block 0x2a)."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.methods.append(request["method"])
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def node() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Node)
    server.statuses, server.methods = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_call_goes_through_and_the_connection_is_kept(node):
    rpc = Rpc(url_of(node), retry_s=5)
    assert [rpc.block_number() for _ in range(3)] == [42, 42, 42]
    assert node.methods == ["eth_blockNumber"] * 3


def test_a_5xx_from_the_node_or_its_proxy_is_retried(node):
    node.statuses = [502, 503]
    started = time.monotonic()
    assert Rpc(url_of(node), retry_s=5).block_number() == 42
    assert len(node.methods) == 3 and time.monotonic() - started >= 0.1 + 0.2  # two back-offs


def test_a_4xx_is_not_retried(node):
    node.statuses = [401]
    with pytest.raises(requests.exceptions.HTTPError, match="HTTP 401"):
        Rpc(url_of(node), retry_s=5).block_number()
    assert len(node.methods) == 1


def test_a_node_that_stays_down_is_unavailable_after_the_retry_time(node):
    node.statuses = [503] * 100
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable, match="did not answer for 1 s"):
        Rpc(url_of(node), retry_s=1.0).block_number()
    assert 1.0 <= time.monotonic() - started < 5
