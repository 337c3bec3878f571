"""``benchmarks/async_under_stragglers.py`` end to end at its smallest scale, so that it cannot rot:
real brokers and chain, real TensorFlow (``benchmark_runs``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kafkaml.workloads import make_workload
from tests.integration.benchmark_runs import ROOT, check_curve, run_benchmark


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


def test_the_centralised_curve_is_the_centralised_training_epoch_by_epoch() -> None:
    """The matched-data references come from one training measured after every epoch: entry e − 1
    must be what a training of e epochs gives, or the gaps would compare against another model."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _time_to_target import centralised_accuracy, centralised_curve, union

    workload = make_workload("rat", 2, 400, 1, "random-split")
    whole = union(workload)
    curve = centralised_curve(whole, workload.validation, 2, 32, 1)
    assert len(curve) == 2
    for epochs in (1, 2):
        assert curve[epochs - 1] == centralised_accuracy(whole, workload.validation, epochs, 32, 1)[0]
