"""A run's recorded rounds are read while the aggregator appends them: a line it is still writing
is not a round yet (it used to fail the reader with a JSON error)."""

from __future__ import annotations

import json
from pathlib import Path

from kafkaml.local.train import Run, RunOptions


def test_a_line_being_written_is_not_read(tmp_path: Path) -> None:
    run = Run("run-1", tmp_path, stack=None, options=RunOptions(clients=1, rounds=2, mode="classic", seed=1))
    run.progress_file.parent.mkdir(parents=True)
    first = json.dumps({"kind": "progress", "data": {"version": 1}})
    second = json.dumps({"kind": "progress", "data": {"version": 2}})
    run.progress_file.write_text(first + "\n" + second[:25])
    assert run.rounds_done() == [{"version": 1}]
    run.progress_file.write_text(first + "\n" + second + "\n")
    assert run.rounds_done() == [{"version": 1}, {"version": 2}]
