"""``benchmarks/vs_flower.py`` end to end at its smallest scale, so that it cannot rot: real
brokers and chain, real TensorFlow, real Flower processes (``benchmark_runs``).

The Flower venv comes from ``make setup`` (``benchmarks/_flower.py``; a run without it makes it).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.integration.benchmark_runs import check_curve, run_benchmark


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
