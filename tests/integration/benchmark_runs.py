"""Running a time-to-target benchmark at its smallest scale and checking its curves, for
``test_stragglers_benchmark.py`` and ``test_vs_flower_benchmark.py``: each benchmark has a file of
its own so that the two longest runs of the suite go to different pytest-xdist processes.

At this scale a run may well not reach its target within the cap; what is checked is that every
figure is consistent with the runs' own records: a time to target is the time of the first
version at or above the target and within the cap, or it is null with a reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


#: The quick scale made smaller still through each script's own overrides: the suite checks that the
#: harness works and that its figures agree with its records, not what they are (docs/results.md).
SMALLEST = {
    "async_under_stragglers.py": ["--clients", "2", "--slow", "1", "--samples", "400", "--cap-s", "15",
                                  "--past-target-s", "4", "--centralised-epochs", "1"],
    "vs_flower.py": ["--samples", "400", "--rounds", "1", "--straggler-clients", "2", "--straggler-samples", "400",
                     "--cap-s", "15", "--centralised-epochs", "1"],
}


def run_benchmark(script: str, tmp_path: Path, timeout_s: float) -> tuple[dict, dict, Path]:
    out, plot = tmp_path / "figures.json", tmp_path / "plot.png"
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--quick", *SMALLEST[script], "--json", str(out),
                           "--plot", str(plot)], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads(out.read_text()), json.loads((tmp_path / "figures_detail.json").read_text()), plot


def check_curve(run: dict, cap_s: float) -> None:
    """A run's time to target is its first version at or above the target, within the cap; or null with a reason."""
    times = [t for t, _ in run["points"]]
    assert times == sorted(times) and all(t > 0 for t in times)
    reached = [t for t, accuracy in run["points"] if accuracy >= run["target"]]
    if reached:
        assert run["time_to_target_s"] == reached[0] <= cap_s + 5
        assert run["stopped"] == "target" and run["reason"] == ""
    else:
        assert run["time_to_target_s"] is None and run["reason"].startswith(f"target {run['target']:.4f} not reached")
    assert run["final_accuracy"] == (run["points"][-1][1] if run["points"] else None)
