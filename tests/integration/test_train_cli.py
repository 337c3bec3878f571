"""``kafkaml train`` end to end as a user runs it: its own stack, a blockchain training, the summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kafkaml.local import stack as local


def test_kafkaml_train_prints_the_summary_and_the_audit_command(tmp_path: Path) -> None:
    environment = {**os.environ, "KAFKAML_RUN_DIR": str(tmp_path), "COLUMNS": "250"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "kafkaml.cli", "train", "--clients", "2", "--rounds", "3", "--samples", "800",
             "--mode", "blockchain"], env=environment, capture_output=True, text=True, timeout=300)
    finally:
        local.down(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"global versions\s+│ 3", out), out
    assert re.search(r"tokens of client-1\s+│ \d+\.\d{6}", out)
    transactions = re.search(r"transactions / total gas\s+│ (\d+) / ([\d,]+)", out)
    assert transactions and int(transactions.group(1)) >= 1 + 1 + 1 + 1 + 3 * 2, out
    assert re.search(r"kafkaml audit 0x[0-9a-fA-F]{40}\s+--token 0x[0-9a-fA-F]{40}\s+--factory 0x[0-9a-fA-F]{40}\s+"
                     r"--rpc-url http://127\.0\.0\.1:\d+\s+--kafka 127\.0\.0\.1:\d+\s+--recompute", out), out
