"""Seconds and processor seconds of a sandboxed model build, started fresh (a new interpreter in the
sandbox, as before the warm builder) and forked from the warm builder (:mod:`kafkaml.warm_builder`,
what ``build_isolated`` does), side by side in one run.

The model source reads the processor time its own process has used when it starts (a fresh
build's includes TensorFlow's import, a warm fork's only what it did since the fork) and names
its last layer after it, so that the figure comes back in the built model's description. The
first warm build, which starts the warm builder and so pays the imports once, is reported on its
own; the run uses a warm builder of its own (its own runtime directory) and stops it at the end.

    .venv/bin/python benchmarks/model_build.py --repeats 3 --json out/model_build.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _report import write_figures
from rich.console import Console
from rich.table import Table

from kafkaml import warm_builder
from kafkaml.builder import build_isolated

SOURCE = """
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_ms = int(1000 * (usage.ru_utime + usage.ru_stime))
model = keras.Sequential([
    keras.Input(shape=(8,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(3, activation="softmax", name=f"cpu_ms_{cpu_ms}"),
])
compile_args = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
"""


def build(*, warm: bool) -> tuple[float, float]:
    """One build: seconds from the call to the checked description, and the processor seconds the
    sandboxed process had used when the source started."""
    started = time.perf_counter()
    built = build_isolated(SOURCE, input_shape=(8,), output_shape=(3,), warm=warm)
    return time.perf_counter() - started, int(built.layers[-1].name.rsplit("_", 1)[1]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()

    # A short directory: a socket's path is at most 108 bytes.
    runtime = tempfile.mkdtemp(prefix="kafkaml-bench-", dir="/tmp")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    try:
        build(warm=False)  # the sandbox's probe, once per process, outside the figures
        first = build(warm=True)
        samples: dict[str, list[tuple[float, float]]] = {"fresh": [], "warm": []}
        for _ in range(args.repeats):  # interleaved, so that both see the same machine
            samples["fresh"].append(build(warm=False))
            samples["warm"].append(build(warm=True))
    finally:
        warm_builder.stop_all()
        shutil.rmtree(runtime, ignore_errors=True)

    def median(kind: str, index: int) -> float:
        return round(statistics.median(sample[index] for sample in samples[kind]), 3)

    figures = {
        "model_build_fresh_s": median("fresh", 0), "model_build_warm_s": median("warm", 0),
        "model_build_speedup": round(median("fresh", 0) / median("warm", 0), 1),
        "model_build_cpu_fresh_s": median("fresh", 1), "model_build_cpu_warm_s": median("warm", 1),
        "model_build_first_warm_s": round(first[0], 3), "repeats": args.repeats,
    }
    table = Table(title=f"a sandboxed model build, call to checked description (median of {args.repeats})")
    for column in ("build", "seconds", "processor seconds before the source"):
        table.add_column(column, justify="right" if column != "build" else "left")
    table.add_row("fresh interpreter in the sandbox", f"{figures['model_build_fresh_s']:.3f}",
                  f"{figures['model_build_cpu_fresh_s']:.3f}")
    table.add_row("fork of the warm builder, same sandbox", f"{figures['model_build_warm_s']:.3f}",
                  f"{figures['model_build_cpu_warm_s']:.3f}")
    table.add_row("first warm build (starts it)", f"{figures['model_build_first_warm_s']:.3f}", "")
    Console().print(table)
    Console().print(f"a warm build is {figures['model_build_speedup']}× faster")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
