"""A serving process keeps Python's default recursion limit for its whole life, whatever a request
imports later: ``py_ecc`` (web3's) raises the limit to 100,000 when first imported, and under
that limit a deeply nested JSON body or control record overflows a request thread's C stack
(the worker dies) instead of being refused. Seen: a federated backend that reached the ledger
for the first time in a request then parsed 50,000 nested brackets instead of rejecting them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkaml.services.settings import RECURSION_LIMIT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["backend", "federated_backend"])
def test_importing_the_ledger_after_start_leaves_the_limit_alone(service: str, tmp_path: Path) -> None:
    code = (f"import {service}.wsgi, sys; started = sys.getrecursionlimit(); "
            "import kafkaml.ledger; print(started, sys.getrecursionlimit())")
    environment = {**os.environ, "BACKEND_SECRET_KEY": "test-only", "KAFKAML_RUN_DIR": str(tmp_path),
                   "BACKEND_RECONCILE_INTERVAL_S": "0", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(RECURSION_LIMIT)] * 2, done.stdout
