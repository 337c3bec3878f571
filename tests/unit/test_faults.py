"""Fault points: a no-op unless named, a crash (exit 137, nothing after it runs) when named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kafkaml.config import ConfigError
from kafkaml.faults import FAULT_EXIT_CODE, FAULT_POINTS, fault_point

SCRIPT = """
import atexit
from kafkaml.faults import fault_point
atexit.register(lambda: print("atexit ran"))
print("before", flush=True)
fault_point("aggregator.after_publish")
print("after the first point", flush=True)
fault_point("aggregator.after_record")
print("after the second point")
"""


def run(point: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKAML_FAULT_POINT": point}
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_the_named_point_ends_the_process_like_a_kill() -> None:
    result = run("aggregator.after_record")
    assert result.returncode == FAULT_EXIT_CODE == 137
    assert result.stdout.splitlines() == ["before", "after the first point"]  # no atexit, nothing after
    assert "fault point aggregator.after_record reached" in result.stderr


def test_without_the_variable_every_point_is_a_no_op() -> None:
    result = run("")
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["before", "after the first point", "after the second point", "atexit ran"]


def test_unknown_points_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown fault point 'aggregator.typo'"):
        fault_point("aggregator.typo")
    monkeypatch.setenv("KAFKAML_FAULT_POINT", "aggregator.typo")
    with pytest.raises(ConfigError, match="KAFKAML_FAULT_POINT='aggregator.typo' must be one of"):
        fault_point(FAULT_POINTS[0])
