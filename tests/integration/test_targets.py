"""The project's deterministic targets (README, "Measured"), asserted as the exact numbers they are.

Timings vary with the machine and stay in ``benchmarks/``; gas, transaction counts and the size
of the built UI do not, so they are held here with the benchmarks' own code (imported, not
copied): ``benchmarks/ledger_gas.py`` on a chain of its own (a 32-round, 4-client training and a
4-update round, ~5 s, no TensorFlow; on Anvil, and once more on Hardhat's node) and ``benchmarks/ui.py``'s bundle measure. ``kafkaml
train``'s transaction count has its bound in ``tests/integration/test_train_cli.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: README: the gzipped JavaScript of the whole UI build, in KB.
BUNDLE_KB_GZIP = 300
#: README: one round aggregating one update (its submission and its record).
GAS_PER_ROUND = 100_000
TRANSACTIONS_PER_ROUND = 2
#: README: a whole 32-round, 4-client training (creation, funding, registration, start,
#: 32 one-update rounds, finish, payout).
GAS_PER_TRAINING = 4_000_000
#: What the UI build is made from (the Makefile's UI_SOURCES).
UI_SOURCES = [*(ROOT / "frontend" / "src").rglob("*"), *(ROOT / "frontend" / name for name in (
    "index.html", "vite.config.ts", "tsconfig.json", "package-lock.json"))]


def benchmark(name: str) -> ModuleType:
    """The module of ``benchmarks/<name>.py`` (a script, importable with benchmarks/ on the path),
    imported when a test needs it rather than whenever tests are collected."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def gas() -> dict[str, Any]:
    return benchmark("ledger_gas").measure()


def test_a_one_update_round_costs_at_most_100k_gas_after_the_first(gas: dict[str, Any]) -> None:
    """The target is on the median round (README, docs/ledger.md) and holds for every round but
    the training's first, whose first credit writes the `_credited` slot from zero (103,669 gas on 2026-12-07)."""
    assert gas["gas_round_1_update"] <= GAS_PER_ROUND, gas
    assert gas["gas_round_1_update_later_max"] <= GAS_PER_ROUND, gas


def test_a_round_is_two_transactions(gas: dict[str, Any]) -> None:
    """A client's submission and the aggregator's record; each further update adds its own submission."""
    assert gas["tx_per_round"] == TRANSACTIONS_PER_ROUND, gas
    assert gas["tx_round_4_updates"] == 4 + 1, gas


def test_a_32_round_4_client_training_costs_at_most_4m_gas(gas: dict[str, Any]) -> None:
    assert gas["gas_training_32_rounds_4_clients"] <= GAS_PER_TRAINING, gas


def test_hardhats_node_charges_the_same_gas(gas: dict[str, Any]) -> None:
    """Gas is the EVM's, not a node's: the same benchmark on the second node implementation
    (Hardhat's EDR) gives every figure exactly, so docs/ledger.md's figures hold for both."""
    assert benchmark("ledger_gas").measure("hardhat") == gas


def test_the_built_ui_ships_at_most_300_kb_of_gzipped_javascript() -> None:
    index = ROOT / "frontend" / "dist" / "index.html"
    assert index.is_file(), "the web UI is not built: run make setup"
    newer = [str(path.relative_to(ROOT)) for path in UI_SOURCES if path.is_file()
             and path.stat().st_mtime > index.stat().st_mtime]
    assert not newer, f"frontend/dist is older than {newer[:5]}: run make ui (the figure would be of an old build)"
    kilobytes, files = benchmark("ui").bundle_kb_gzip()
    assert files > 1, "the pages are split into lazily loaded files"
    assert kilobytes <= BUNDLE_KB_GZIP, f"{kilobytes:.1f} KB of gzipped JavaScript in {files} files"
