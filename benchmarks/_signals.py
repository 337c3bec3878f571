"""SIGTERM as an ordinary exit, so that a stopped benchmark tears down what it started.

Python's default SIGTERM handler ends the process without running any ``finally`` block or
context manager exit: a benchmark stopped with ``kill`` or by a CI timeout would leave its
brokers, chain, worker jobs and any other system's processes (Flower's) running.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)``; the previous handler is restored after."""
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
