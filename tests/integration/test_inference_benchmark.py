"""``benchmarks/inference.py --quick`` end to end (a stack of its own, the RAT CNN, a worker), so
that it cannot rot: every headline figure is there and agrees with the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_inference_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "inference.json"
    done = subprocess.run([sys.executable, "benchmarks/inference.py", "--quick", "--json", str(out)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(out.read_text())
    assert figures["scale"] == "quick" and figures["records"] == 600 and figures["batch"] == 32
    assert figures["inference_records_per_s"] > 0 and figures["in_memory_records_per_s"] > 0
    assert figures["in_memory_records_per_s"] == max(figures["in_memory_predict_on_batch_records_per_s"],
                                                     figures["in_memory_model_predict_records_per_s"])
    assert figures["inference_over_in_memory"] == pytest.approx(
        figures["inference_records_per_s"] / figures["in_memory_records_per_s"], abs=2e-3)
    assert figures["latency_rate_records_per_s"] == pytest.approx(figures["inference_records_per_s"] / 2, abs=0.1)
    assert 0 < figures["inference_latency_ms_p50"] <= figures["inference_latency_ms_p99"] < 60_000
