"""``benchmarks/ui.py --quick`` end to end, so that the benchmark cannot rot: a real chain, the
backend serving the built UI, headless Chromium drawing a finished training's page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kafkaml.local.platform import UI_BUILD

ROOT = Path(__file__).resolve().parents[2]


def test_the_ui_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    assert (UI_BUILD / "index.html").is_file(), "the web UI is not built: run make setup"
    out = tmp_path / "ui.json"
    done = subprocess.run([sys.executable, "benchmarks/ui.py", "--quick", "--json", str(out),
                           "--failure-screenshot", str(tmp_path / "ready-timeout.png")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    figures = json.loads(out.read_text())
    assert figures["quick"] is True and figures["rounds"] == 4 and figures["clients"] == 8
    assert figures["page_loads"] == 3 and 0 < figures["training_page_ready_ms_p50"] <= figures["training_page_ready_ms_p95"]
    assert figures["bundle_kb_gzip"] > 0 and figures["bundle_js_files"] > 1
