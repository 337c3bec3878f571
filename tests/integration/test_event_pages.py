"""Reading a training's events from a node that caps ``eth_getLogs`` ranges, as hosted nodes do:
a refused page is halved until the node answers, and what is read is what an uncapped node
serves; a node that refuses even one block is an error that says so."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kafkaml.ledger import LedgerError, TrainingReader, UpdateOutcome
from tests.integration.ledger_fixtures import deploy, digest, global_pointer


@contextmanager
def capped_node(upstream: str, max_blocks: int) -> Iterator[tuple[str, list[int]]]:
    """A JSON-RPC proxy in front of ``upstream`` that refuses ``eth_getLogs`` over more than
    ``max_blocks`` blocks (0: every one); yields its URL and the refused ranges' sizes."""
    refused: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = json.loads(body)
            if request.get("method") == "eth_getLogs":
                query = request["params"][0]
                blocks = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
                if blocks > max_blocks:
                    refused.append(blocks)
                    self._answer(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": {
                        "code": -32005, "message": f"block range exceeds {max_blocks}"}}).encode())
                    return
            forwarded = urllib.request.Request(upstream, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(forwarded, timeout=10) as answer:
                self._answer(answer.read())

        def _answer(self, payload: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", refused
    finally:
        server.shutdown()
        server.server_close()


def test_a_capped_node_serves_the_same_history_in_smaller_pages(local_stack):
    t = deploy(local_stack, rounds=4)
    for round_ in range(1, 4):
        t.submit(0, update := digest("update"))
        t.aggregator.record_round(digest("version"), global_pointer(round_), [UpdateOutcome(update, True, round_)])
    direct = TrainingReader.open(local_stack.chain.address, t.aggregator.address).history()
    with capped_node(local_stack.chain.address, max_blocks=2) as (url, refused):
        capped = TrainingReader.open(url, t.aggregator.address).history()
    assert refused, "the node refused no range: the test proves nothing"
    assert capped == direct
    assert [v.version for v in capped.versions] == [0, 1, 2, 3]
    assert [u.reward for v in capped.versions for u in v.updates] == [1, 2, 3]


def test_a_node_that_refuses_every_range_is_an_error_naming_it(local_stack):
    t = deploy(local_stack, rounds=2)
    with capped_node(local_stack.chain.address, max_blocks=0) as (url, _), \
            pytest.raises(LedgerError, match="eth_getLogs of block .* failed .*block range exceeds 0"):
        TrainingReader.open(url, t.aggregator.address).history()
