"""How the process helpers read /proc while the process they look at ends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kafkaml import processes


@pytest.fixture
def sleeper():
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def _stat_read_answers_esrch(monkeypatch: pytest.MonkeyPatch, pid: int) -> None:
    """What the kernel answers when a process is reaped between the open of its stat and the read."""
    read_text = Path.read_text

    def read(path: Path, *args, **kwargs) -> str:
        if str(path) == f"/proc/{pid}/stat":
            raise ProcessLookupError(3, "No such process")
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read)


def test_a_process_reaped_while_its_stat_is_read_counts_as_gone(sleeper, monkeypatch) -> None:
    assert processes.is_running(sleeper.pid) and processes.start_ticks(sleeper.pid) is not None
    _stat_read_answers_esrch(monkeypatch, sleeper.pid)
    assert not processes.is_running(sleeper.pid)
    assert processes.start_ticks(sleeper.pid) is None


def test_stopping_a_group_whose_leader_is_reaped_mid_read_raises_nothing(sleeper, monkeypatch) -> None:
    """The CI failure of 2026-12-07: stopping a job raised ProcessLookupError out of the stat read."""
    _stat_read_answers_esrch(monkeypatch, sleeper.pid)
    processes.stop_group(sleeper.pid, grace_s=2)
    assert sleeper.wait(timeout=5) is not None
