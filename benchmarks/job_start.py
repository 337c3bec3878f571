"""Seconds and processor seconds from launching a local job to its program being ready, started
fresh (``python -m``, as before the warm process) and forked from the warm process (what the local
launcher does, :mod:`kafkaml.jobs.warm_start`), side by side in one run.

The job imports what a training job imports (TensorFlow, web3, the Kafka client, safetensors)
and prints its own processor time. The first warm launch, which starts the warm process and so
pays the imports once, is reported on its own.

    .venv/bin/python benchmarks/job_start.py --repeats 5 --json out/job_start.json
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_figures
from rich.console import Console
from rich.table import Table

from kafkaml.jobs import LABEL_JOB, JobSpec, LocalLauncher, warm_start
from kafkaml.jobs.local import base_environment

PROGRAM = '''
import resource, time
import tensorflow, web3, kafka, safetensors.numpy
usage = resource.getrusage(resource.RUSAGE_SELF)
print("ready", usage.ru_utime + usage.ru_stime, flush=True)
'''


def fresh(code: Path) -> tuple[float, float]:
    """A fresh interpreter: seconds to ready, and its processor seconds."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "startprobe"], stdout=subprocess.PIPE, text=True,
                               env={**base_environment(), "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ready"):
            elapsed = time.perf_counter() - started
            process.wait()
            return elapsed, float(line.split()[1])
    raise RuntimeError(f"the fresh job ended without getting ready (exit {process.wait()})")


def warm(launcher: LocalLauncher, code: Path, name: str) -> tuple[float, float]:
    """A fork of the warm process, launched as the local launcher launches: seconds and processor seconds."""
    started = time.perf_counter()
    launcher.launch(JobSpec(name=name, role="trainer", training="bench", owner="bench", image="kafka-ml/worker:bench",
                            module="startprobe", environment={"PYTHONPATH": str(code)}))
    while True:
        output = launcher.logs({LABEL_JOB: name}).get(name, "")
        ready = [line for line in output.splitlines() if line.startswith("ready")]
        if ready:
            return time.perf_counter() - started, float(ready[0].split()[1])
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as directory:
        code = Path(directory) / "code"
        code.mkdir()
        (code / "startprobe.py").write_text(PROGRAM)
        # A warm process of this run's own (its own base environment), so the first launch starts it.
        os.environ["TMPDIR"] = directory
        launcher = LocalLauncher(Path(directory) / "run")
        first = warm(launcher, code, "first")
        samples = {"fresh": [], "warm": []}
        for index in range(args.repeats):  # interleaved, so that both see the same machine
            samples["fresh"].append(fresh(code))
            samples["warm"].append(warm(launcher, code, f"warm-{index}"))
        launcher.stop({"kafka-ml/training": "bench"})
        log = warm_start.socket_path(base_environment()).with_suffix(".log").read_text()
        os.kill(int(log.split("warm job starter ")[1].split()[0]), signal.SIGTERM)  # this run's own

    def median(kind: str, index: int) -> float:
        return round(statistics.median(sample[index] for sample in samples[kind]), 3)

    figures = {
        "job_start_fresh_s": median("fresh", 0), "job_start_warm_s": median("warm", 0),
        "job_start_speedup": round(median("fresh", 0) / median("warm", 0), 1),
        "job_cpu_fresh_s": median("fresh", 1), "job_cpu_warm_s": median("warm", 1),
        "job_start_first_warm_s": round(first[0], 3), "repeats": args.repeats,
    }
    table = Table(title=f"a local job from launch to ready (median of {args.repeats})")
    for column in ("start", "seconds", "processor seconds"):
        table.add_column(column, justify="right" if column != "start" else "left")
    table.add_row("fresh python -m", f"{figures['job_start_fresh_s']:.3f}", f"{figures['job_cpu_fresh_s']:.3f}")
    table.add_row("forked from the warm process", f"{figures['job_start_warm_s']:.3f}",
                  f"{figures['job_cpu_warm_s']:.3f}")
    table.add_row("first warm launch (starts it)", f"{figures['job_start_first_warm_s']:.3f}", "")
    Console().print(table)
    Console().print(f"warm start is {figures['job_start_speedup']}× faster")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
