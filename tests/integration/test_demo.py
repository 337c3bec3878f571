"""``make demo`` (``kafkaml demo``), the README's main command, as a user runs it but small: its own
stack with the platform, two vehicles, three rounds of the paper's RAT use case on a few windows,
the final model deployed for inference to answer the held-out test set; then the audit command it
prints, run as printed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kafkaml.local import stack as local

ROOT = Path(__file__).resolve().parents[2]
KAFKAML = str(Path(sys.executable).parent / "kafkaml")  # the entry point `make demo` calls
#: The SNR buckets of kafkaml.usecases.rat.metrics.accuracy_by_snr, every one present in 2400 held-out windows.
SNR_ROWS = [f"{snr:+d}" for snr in range(-10, 31, 5)]


@pytest.mark.slow  # a whole stack of its own and the RAT CNN: minutes (`make test` runs it, `make test-fast` not)
def test_kafkaml_demo_trains_summarises_and_its_audit_command_passes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # Wide enough that no line of the summary wraps; SQLite in the run directory, as for a user.
    environment = {**os.environ, "KAFKAML_RUN_DIR": str(run_dir), "COLUMNS": "1000", "ETH_BLOCKSCOUT_URL": ""}
    environment.pop("DATABASE_URL", None)
    try:
        # 240 windows: 15 streams of 8, about 120 per vehicle, one batch each per round.
        demo = subprocess.run([KAFKAML, "demo", "--clients", "2", "--rounds", "3", "--samples", "240", "--epochs", "1",
                               "--timeout", "400"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
        out = demo.stdout
        assert demo.returncode == 0, out[-4000:] + demo.stderr[-4000:]
        assert re.search(r"rounds .* 3/3 ", out), out
        assert re.search(r"global versions\s+│ 3 ", out), out
        for vehicle in ("client-1", "client-2"):
            assert re.search(rf"tokens of {vehicle}\s+│ \d+\.\d{{6}} ", out), out
        transactions, gas = map(lambda n: int(n.replace(",", "")),
                                re.search(r"transactions / total gas\s+│ (\d+) / ([\d,]+) ", out).groups())
        assert transactions > 0 and gas > 0, out
        # The accuracy comes from the model's inference deployment, answering the samples streamed to it.
        assert "deployed for inference through the REST API, answered the 2400 held-out samples" in out, out
        assert re.search(r"final model on 2400\s+held-out samples", out), out
        accuracies = dict(re.findall(r"│ (all|[+-]\d+)\s+│\s+(\d\.\d{3}) │", out))
        assert list(accuracies) == ["all", *SNR_ROWS], out
        assert all(0.0 <= float(accuracy) <= 1.0 for accuracy in accuracies.values())
        assert "stop everything with: .venv/bin/kafkaml local down" in out, out

        printed = re.search(r"audit this run: (\.venv/bin/kafkaml audit 0x[0-9a-fA-F]{40} .*--recompute)$", out,
                            re.MULTILINE)
        assert printed, out
        audit = subprocess.run(shlex.split(printed.group(1)), cwd=ROOT, env=environment, capture_output=True,
                               text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout[-4000:] + audit.stderr[-4000:]
        assert "all 3 versions recomputed bit for bit" in audit.stdout, audit.stdout
    finally:
        down = subprocess.run([KAFKAML, "local", "--run-dir", str(run_dir), "down"], cwd=ROOT, env=environment,
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert local.load(run_dir) is None
