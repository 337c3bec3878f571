"""Waking a waiting job when its training's contract emits an event, instead of on a timer.

Trainers wait for the next global version and the aggregator waits for submissions. Waiting by
polling with back-off costs latency on every round (up to the back-off's cap) and a call to the
node per poll, both taken from training on a small machine. A node that serves websocket
subscriptions (Anvil and Hardhat on their RPC port, Geth with ``--ws``) says at once when the
contract emits a log: one ``eth_subscribe("logs", {"address": …})``, and a wait ends at the first
notification.

A notification is only a reason to look: the caller reads the state after every wait, exactly as
after a poll, so nothing is trusted from the websocket. Polling stays both the fallback (no
websocket at the node, or it dropped) and the safety net (a wait never lasts longer than the poll
delay the caller passes), so a lost notification costs no more than polling did before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)

#: After a failed connection the next attempt waits this long, doubled after every further
#: failure up to the cap: a node without websockets (or a network policy that drops the
#: connection, which costs an attempt its whole open timeout) is not asked on every poll.
RECONNECT_AFTER_S = 10.0
RECONNECT_AFTER_MAX_S = 300.0
OPEN_TIMEOUT_S = 2.0
#: Notifications are small (one log each); a larger frame is not from a node we trust.
MAX_FRAME_BYTES = 1 << 20


def websocket_url(rpc_url: str, configured: str) -> str | None:
    """The websocket URL to subscribe at: ``configured`` if set, none if it is ``none``, else the
    RPC URL with ``ws(s)://`` (Anvil and Hardhat serve both on one port). Only http(s) RPC URLs
    have a websocket counterpart."""
    if configured.lower() == "none":
        return None
    if configured:
        return configured
    parts = urlsplit(rpc_url)
    schemes = {"http": "ws", "https": "wss"}
    if parts.scheme not in schemes:
        return None
    return urlunsplit((schemes[parts.scheme], *parts[1:]))


class LogDoorbell:
    """Rings when the contract at ``address`` emits a log; :meth:`wait` sleeps until then."""

    def __init__(self, url: str | None, address: str, public_url: str) -> None:
        self.url = url
        self.address = address
        self.public_url = public_url  # for log lines: the URL may carry an API key
        self._connection: ClientConnection | None = None
        self._open = contextlib.ExitStack()  # websockets wants its connections used as contexts
        self._retry_at = 0.0
        self._retry_after = RECONNECT_AFTER_S
        self._warned = False

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True as soon as the contract emitted a log since the last
        wait (so one that arrived between the caller's check and this wait is not missed)."""
        timeout_s = max(0.0, timeout_s)
        connection = self._connected()
        if connection is None:
            time.sleep(timeout_s)
            return False
        started = time.monotonic()
        try:
            connection.recv(timeout=timeout_s)
        except TimeoutError:
            return False
        except (WebSocketException, OSError) as exc:
            self._drop(f"the subscription ended ({type(exc).__name__})")
            time.sleep(max(0.0, timeout_s - (time.monotonic() - started)))
            return False
        # A burst of logs (one round's events) is one ring; a failure while draining shows again
        # at the next wait.
        with contextlib.suppress(TimeoutError, WebSocketException, OSError):
            while True:
                connection.recv(timeout=0)
        return True

    def close(self) -> None:
        with contextlib.suppress(WebSocketException, OSError):
            self._open.close()
        self._connection = None

    def _connected(self) -> ClientConnection | None:
        if self._connection is not None or self.url is None or time.monotonic() < self._retry_at:
            return self._connection
        try:
            connection = self._open.enter_context(connect(self.url, open_timeout=OPEN_TIMEOUT_S, close_timeout=1.0,
                                                          max_size=MAX_FRAME_BYTES, compression=None))
        except (WebSocketException, OSError, TimeoutError) as exc:
            self._drop(f"no websocket subscriptions ({type(exc).__name__})")
            return None
        try:
            connection.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                        "params": ["logs", {"address": self.address}]}))
            answer = json.loads(connection.recv(timeout=OPEN_TIMEOUT_S))
        except (WebSocketException, OSError, TimeoutError, ValueError) as exc:
            self._drop(f"the subscription was not set up ({type(exc).__name__})")
            return None
        if not isinstance(answer, dict) or "result" not in answer:
            self._drop(f"the node refused the subscription: {str(answer)[:200]}")
            return None
        log.info("waiting on log notifications of %s from %s", self.address, self.public_url)
        self._connection = connection
        self._warned = False
        self._retry_after = RECONNECT_AFTER_S
        return connection

    def _drop(self, why: str) -> None:
        self.close()
        self._retry_at = time.monotonic() + self._retry_after
        self._retry_after = min(2 * self._retry_after, RECONNECT_AFTER_MAX_S)
        if not self._warned:  # once per outage, not once per poll
            log.info("%s at %s; polling instead", why, self.public_url)
            self._warned = True
