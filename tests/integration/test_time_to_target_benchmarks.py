"""``benchmarks/async_under_stragglers.py`` and ``benchmarks/vs_flower.py`` end to end at their
smallest scale, so that neither can rot: real brokers and chain, real TensorFlow, real Flower processes.

The Flower venv comes from ``make setup`` (``benchmarks/_flower.py``; a run without it makes it).
At this scale a run may well not reach its target within the cap; what is checked is that every figure is consistent with the runs' own records:
a time to target is the time of the first version at or above the target and within the cap,
or it is null with a reason.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


#: The quick scale made smaller still through each script's own overrides: the suite checks that the
#: harness works and that its figures agree with its records, not what they are (docs/results.md).
SMALLEST = {
    "async_under_stragglers.py": ["--clients", "2", "--slow", "1", "--samples", "400", "--cap-s", "15",
                                  "--centralised-epochs", "1"],
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


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_async_under_stragglers_quick(tmp_path: Path) -> None:
    figures, detail, _ = run_benchmark("async_under_stragglers.py", tmp_path, timeout_s=1200)
    assert figures["scale"] == "quick" and figures["slowdown"] == 4.0
    assert figures["target_accuracy"] == pytest.approx(figures["centralised_accuracy"] - 0.03, abs=1e-4)
    for name in ("fedavg", "fedasync", "fedbuff"):
        (run,) = detail["runs"][name]
        check_curve(run, figures["cap_s"])
        assert figures[f"{name}_time_to_target_s"] == run["time_to_target_s"]
        assert figures[f"{name}_final_accuracy"] == (None if run["final_accuracy"] is None
                                                     else round(run["final_accuracy"], 4))
        if run["time_to_target_s"] is None:
            assert figures[f"{name}_time_to_target_reason"] == run["reason"]
    # Synchronous FedAvg consumes one update per client and version; the stragglers are the last clients.
    assert detail["strategy_params"]["fedavg"] == {"updates": figures["clients"]}
    fedavg, fedbuff = figures["fedavg_time_to_target_s"], figures["fedbuff_time_to_target_s"]
    assert figures["stragglers_fedavg_time_to_target_s"] == fedavg
    if fedavg is not None and fedbuff is not None:
        assert figures["fedbuff_over_fedavg_time_to_target"] == pytest.approx(fedbuff / fedavg, abs=1e-4)
    else:
        assert figures["fedbuff_over_fedavg_time_to_target"] is None
        assert figures["fedbuff_over_fedavg_time_to_target_reason"]
    gaps = {name: figures[f"{name}_gap_to_matched_centralised_pp"] for name in ("fedasync", "fedbuff")}
    measured = [gap for gap in gaps.values() if gap is not None]
    assert figures["best_async_split8_gap_pp"] == (min(measured) if measured else None)


@pytest.mark.slow
@pytest.mark.timeout(2700)
def test_vs_flower_quick(tmp_path: Path) -> None:
    """Fails with the command to run when the Flower venv cannot be created here."""
    figures, detail, _ = run_benchmark("vs_flower.py", tmp_path, timeout_s=2400)
    assert figures["scale"] == "quick" and figures["flower_version"] == "1.42"
    for pair in detail["synchronous"]:
        for system in ("flower", "classic", "blockchain"):
            run = pair[system]
            assert len(run["points"]) == figures["rounds"] and run["stopped"] == "finished", run
    walls = {system: figures[f"{system}_wall_s_median"] for system in ("flower", "classic", "blockchain")}
    assert all(wall > 0 for wall in walls.values())
    for mode in ("classic", "blockchain"):
        ratio = figures[f"ours_{mode}_over_flower_wall_time"]
        assert math.isfinite(ratio) and ratio > 0
        if len(detail["synchronous"]) == 1:
            assert ratio == pytest.approx(walls[mode] / walls["flower"], rel=1e-3)
    finals = [(pair["classic"]["final_accuracy"], pair["blockchain"]["final_accuracy"], pair["flower"]["final_accuracy"])
              for pair in detail["synchronous"]]
    if len(finals) == 1:
        classic, blockchain, flower = finals[0]
        assert figures["accuracy_gap_vs_flower_pp"] == pytest.approx(100 * min(classic - flower, blockchain - flower),
                                                                     abs=0.01)
    for pair in detail["stragglers"]:
        for run in pair.values():
            check_curve(run, figures["cap_s"])
    ratio = figures["stragglers_ours_async_over_flower_time_to_target"]
    assert (ratio is None) == any(run["time_to_target_s"] is None for pair in detail["stragglers"]
                                  for run in pair.values())
    if ratio is None:
        assert figures["stragglers_time_to_target_reason"]
