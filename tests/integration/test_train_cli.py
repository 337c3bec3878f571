"""``kafkaml train`` end to end as a user runs it: its own stack, a blockchain training, the summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from kafkaml.ledger.aggregator import PAYOUT_BATCH
from kafkaml.ledger.gas import DEFAULT_MARGIN, aggregator_funding
from kafkaml.local import stack as local


def transaction_bounds(clients: int, rounds: int, consumed: int | None = None) -> tuple[int, int]:
    """The fewest and the most transactions ``kafkaml train`` can send for a blockchain training,
    counted as it counts them (its creation through the factory, then every transaction to the
    training's contract), from the protocol: one creation, one registration of all clients, one
    start; per round one record, plus one submission per update the rounds consumed; one finish;
    the payout in batches of PAYOUT_BATCH clients (none when nobody earned anything). A client
    has at most one update pending and a round consumes pending updates only, so the rounds
    consume from ``rounds`` to ``rounds * clients`` updates (``consumed``, when the run's record
    says), and each client sends at most one submission more, still pending when it ends."""
    fixed = 1 + 1 + 1 + 1  # creation, registration, start, finish
    fewest_consumed, most_consumed = (rounds, rounds * clients) if consumed is None else (consumed, consumed)
    payout = -(-clients // PAYOUT_BATCH)
    return fixed + rounds + fewest_consumed, fixed + rounds + most_consumed + clients + payout


def train_small(run_dir: Path, **settings: str) -> str:
    """``kafkaml train`` of 2 clients, 3 rounds, in blockchain mode; its output."""
    environment = {**os.environ, "KAFKAML_RUN_DIR": str(run_dir), "COLUMNS": "250", **settings}
    result = subprocess.run(
        [sys.executable, "-m", "kafkaml.cli", "train", "--clients", "2", "--rounds", "3", "--samples", "800",
         "--mode", "blockchain"], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_kafkaml_train_prints_the_summary_and_the_audit_command(tmp_path: Path) -> None:
    try:
        out = train_small(tmp_path)
        # The aggregator is funded for its training's gas by the measured bound, not a flat ether,
        # and what it did not spend is back with the platform: its account ends empty.
        money = re.search(r"aggregator gas money\s+│ (0x[0-9a-fA-F]{40}): funded ([\d,]+) wei, returned ([\d,]+) wei",
                          out)
        assert money, out
        aggregator, funded, returned = money.group(1), *(int(g.replace(",", "")) for g in money.group(2, 3))
        rpc_url = re.search(r"--rpc-url (http://127\.0\.0\.1:\d+)", out).group(1)
        gas_bound = aggregator_funding(3, 2, fee_cap_wei=1, margin=DEFAULT_MARGIN)  # priced at the fee cap then
        assert funded % gas_bound == 0 and funded < 10**17, (funded, gas_bound)
        assert 0 < returned < funded
        assert Web3(Web3.HTTPProvider(rpc_url)).eth.get_balance(aggregator) == 0
    finally:
        local.down(tmp_path)
    assert re.search(r"global versions\s+│ 3", out), out
    assert re.search(r"tokens of client-1\s+│ \d+\.\d{6}", out)
    transactions = re.search(r"transactions / total gas\s+│ (\d+) / ([\d,]+)", out)
    assert transactions, out
    sent = int(transactions.group(1))
    fewest, most = transaction_bounds(clients=2, rounds=3)
    assert fewest <= sent <= most, (fewest, most, out)
    (progress,) = tmp_path.glob("trainings/*/aggregator/progress.jsonl")
    consumed = sum(len(json.loads(line)["data"]["contributions"]) for line in progress.read_text().splitlines())
    fewest, most = transaction_bounds(clients=2, rounds=3, consumed=consumed)
    assert fewest <= sent <= most, (fewest, most, consumed, out)
    assert re.search(r"kafkaml audit 0x[0-9a-fA-F]{40}\s+--token 0x[0-9a-fA-F]{40}\s+--factory 0x[0-9a-fA-F]{40}\s+"
                     r"--rpc-url http://127\.0\.0\.1:\d+\s+--kafka 127\.0\.0\.1:\d+\s+--recompute", out), out


def test_a_blockchain_training_and_its_recompute_audit_run_on_hardhats_node(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform reaches its chain through standard JSON-RPC only, so a second, independent node
    implementation serves it as Anvil does: the same training and audit on Hardhat's node (EDR)."""
    environment = {**os.environ, "KAFKAML_RUN_DIR": str(tmp_path), "KAFKAML_CHAIN_NODE": "hardhat"}
    try:
        out = train_small(tmp_path, KAFKAML_CHAIN_NODE="hardhat")
        rpc_url = re.search(r"--rpc-url (http://127\.0\.0\.1:\d+)", out).group(1)
        assert Web3(Web3.HTTPProvider(rpc_url)).client_version.startswith("HardhatNetwork/"), out
        assert re.search(r"global versions\s+│ 3", out), out
        printed = re.search(r"kafkaml (audit 0x[0-9a-fA-F]{40} .*?--recompute)", out, re.DOTALL)
        assert printed, out
        audit = subprocess.run([sys.executable, "-m", "kafkaml.cli", *printed.group(1).split()], env=environment,
                               capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout[-4000:] + audit.stderr[-4000:]
        assert "all 3 versions recomputed bit for bit" in audit.stdout, audit.stdout
        # The stack keeps the node it was brought up with: another setting is refused, not mixed in.
        monkeypatch.setenv("KAFKAML_CHAIN_NODE", "anvil")
        with pytest.raises(local.StackError, match="runs hardhat as its chain"):
            local.up(2, tmp_path)
    finally:
        local.down(tmp_path)
