"""A service's reconciler: the state its views show is brought up to date by the service itself.

Job and participation states change outside any request: a training's aggregator job fails, an
audit job ends without a verdict, a trainer ends and frees a slot that an approved participation
waits for. Each service names one step (``RECONCILE_STEP``, a dotted path) that reads the
launcher and writes what changed; every process that serves the API runs it in a daemon thread
every ``BACKEND_RECONCILE_INTERVAL_S`` seconds. The steps are idempotent and serialise on the
database themselves (:func:`exclusive`), so the service's workers may all run them.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


def start() -> threading.Thread | None:
    """Start this process's reconciler thread (None when the service names no step, or the
    interval is 0: reconciling switched off)."""
    step_path = getattr(settings, "RECONCILE_STEP", "")
    interval_s = settings.RECONCILE_INTERVAL_S
    if not step_path or interval_s <= 0:
        return None
    step = import_string(step_path)
    thread = threading.Thread(target=_loop, args=(step, interval_s), name="reconciler", daemon=True)
    thread.start()
    return thread


def _loop(step: Callable[[], None], interval_s: float) -> None:
    """Run ``step`` every ``interval_s`` seconds for as long as the process lives: an error (the
    database or the launcher away) is logged and the next pass tries again."""
    stopped = threading.Event()
    while not stopped.wait(interval_s):
        try:
            close_old_connections()  # a connection the database dropped meanwhile is replaced
            step()
        except Exception:
            log.exception("reconciling failed; trying again in %.0f s", interval_s)


def exclusive(name: str) -> None:
    """Within the current transaction, wait until no other process holds ``name``'s lock
    (PostgreSQL: a transaction-level advisory lock, released at commit or rollback). SQLite needs
    none: its transactions take the write lock when they begin (kafkaml.services.settings)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(name.encode())])
