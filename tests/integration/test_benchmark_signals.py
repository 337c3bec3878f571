"""A benchmark stopped with SIGTERM (``kill``, a CI timeout) tears down what it started
(``benchmarks/_signals.py``): its local stack's brokers and chain do not outlive it."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

#: Holds a private stack (platform broker + one client broker + chain) until it is stopped.
HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from _runs import private_stack
with private_stack(1) as (stack, runs):
    print("up", flush=True)
    time.sleep(600)
"""


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (the stack's parts are its children while it runs)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_benchmark_stopped_with_sigterm_leaves_no_broker_or_chain_running() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(BENCHMARKS)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "up", "the private stack did not come up"
        parts = _children(holder.pid)
        assert len(parts) >= 3, f"expected two brokers and a chain as children, found {parts}"
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in parts) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in parts if _alive(pid)]
        assert not left, f"still running after the benchmark stopped: {left}"
    finally:
        if holder.poll() is None:
            holder.kill()


def test_every_benchmark_that_starts_a_stack_turns_sigterm_into_an_exit() -> None:
    """Each script calling ``local.up`` runs its ``main()`` inside ``sigterm_exits()`` (or gets its
    stack from ``private_stack``, which does)."""
    unguarded = []
    for script in sorted(BENCHMARKS.glob("*.py")):
        source = script.read_text()
        if script.name.startswith("_") or "local.up(" not in source:
            continue
        tree = ast.parse(source)
        guarded = any(isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", "") == "sigterm_exits"
            for item in node.items) for node in ast.walk(tree))
        if not guarded:
            unguarded.append(script.name)
    assert not unguarded, f"benchmarks starting a stack without sigterm_exits(): {unguarded}"
