"""``benchmarks/platform_api.py --quick`` end to end, so that the benchmark cannot rot: it starts
its own backend on a throw-away PostgreSQL database, seeds 100 results, measures and stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_platform_api_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "platform_api.json"
    done = subprocess.run([sys.executable, "benchmarks/platform_api.py", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["quick"] is True and figures["results"] == 100 and figures["page_size"] == 50
    assert figures["results_list_requests"] > 0 and 0 < figures["results_list_p50_ms"] <= figures["results_list_p95_ms"]
    assert figures["rounds_observed"] >= 8 and 0 < figures["round_visible_latency_s_p95"] < 30
    assert "platform API" in done.stdout  # the table
