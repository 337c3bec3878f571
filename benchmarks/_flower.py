"""Flower's deployment runtime as real local processes, for ``vs_flower.py``.

Flower 1.42 pins a ``rich`` our lock file cannot share, so it gets a virtualenv of its own,
created here under ``out/`` (never the project's ``.venv``). TensorFlow, Keras and the model's
code are not installed twice: a ``.pth`` file in the Flower venv appends the project's
site-packages and the repository root to its ``sys.path``, after Flower's own packages, so
Flower runs with its pinned dependencies and the very TensorFlow our jobs use.

A federation is one SuperLink and one SuperNode per client, started with ``--insecure`` on
loopback ports (Flower's documented local deployment), with ``FLWR_HOME`` in a directory of its
own (its Flower configuration names the SuperLink connection) so nothing touches ``~/.flwr``.
Runtime installation of app dependencies is off: everything is in the venv already. A run is
submitted with ``flwr run <app> <connection> --run-config ...``; the ServerApp records each
evaluated global model with its time; a run is ended early with ``flwr stop``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = Path(__file__).resolve().parent / "flower_app"
VENV = ROOT / "out" / "flower-venv"
FLOWER_REQUIREMENT = "flwr==1.42.*"
CONNECTION = "kafkaml-bench"
#: Seconds to wait for a part of the federation to answer, or to stop after SIGTERM.
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0


class FlowerUnavailable(RuntimeError):
    """Flower's venv cannot be made or used here; the message says which command to run."""


def flower_venv(venv: Path = VENV) -> Path:
    """The Flower venv's ``bin`` directory, created (pip install from the package index) if needed."""
    bin_dir = venv / "bin"
    if not _flower_version(bin_dir).startswith("1.42"):
        python = sys.executable
        setup = [[python, "-m", "venv", "--clear", str(venv)],
                 [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", FLOWER_REQUIREMENT]]
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise FlowerUnavailable(f"`{' '.join(command)}` failed ({done.stderr.strip()[-800:]}); create the "
                                        f"Flower venv by hand with: {python} -m venv {venv} && {bin_dir}/python -m pip "
                                        f"install '{FLOWER_REQUIREMENT}'")
    site_packages = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
    (site_packages / "kafkaml-project.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{ROOT}\n")
    check = subprocess.run([str(bin_dir / "python"), "-c", "import flwr, tensorflow, kafkaml.usecases.rat.model"],
                           capture_output=True, text=True, timeout=300)
    if check.returncode != 0:
        raise FlowerUnavailable(f"the Flower venv {venv} cannot import flwr, tensorflow and kafkaml: "
                                f"{check.stderr.strip()[-800:]}; remove {venv} and run the benchmark again")
    return bin_dir


def _flower_version(bin_dir: Path) -> str:
    if not (bin_dir / "flwr").exists():
        return ""
    done = subprocess.run([str(bin_dir / "flwr"), "--version"], capture_output=True, text=True, timeout=120)
    return done.stdout.split()[-1] if done.returncode == 0 and done.stdout.split() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FlowerUnavailable(f"{Path(process.args[0]).name} exited with code {process.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise FlowerUnavailable(f"{Path(process.args[0]).name} did not listen on port {port} within "
                            f"{READY_TIMEOUT_S:.0f} s; see {log}")


@dataclass
class Federation:
    """A running SuperLink with its SuperNodes, and how to talk to it."""

    bin_dir: Path
    directory: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def flwr(self, *arguments: str, timeout_s: float = 300.0) -> dict[str, Any]:
        """A ``flwr`` command with JSON output, its answer parsed."""
        done = subprocess.run([str(self.bin_dir / "flwr"), *arguments, "--format", "json"], capture_output=True,
                              text=True, timeout=timeout_s, env=self.env, cwd=self.directory)
        try:
            answer = json.loads(done.stdout[done.stdout.index("{"):])
        except ValueError:
            answer = {}
        if done.returncode != 0 or not answer.get("success"):
            raise RuntimeError(f"flwr {arguments[0]} failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
        return answer

    def stop(self) -> None:
        """SIGTERM to every part (each leads a process group with its SuperExec and apps), then SIGKILL."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def federation(bin_dir: Path, directory: Path, slowdowns: list[float]) -> Iterator[Federation]:
    """A SuperLink and one SuperNode per entry of ``slowdowns`` (partition ``i`` gets ``slowdowns[i]``)."""
    directory.mkdir(parents=True, exist_ok=True)
    home = directory / "flwr-home"
    home.mkdir(exist_ok=True)
    port = free_port()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                                      f'address = "127.0.0.1:{port}"\ninsecure = true\n')
    # As in an activated venv: the SuperLink and SuperNodes start Flower's other programs by name.
    env = {**os.environ, "FLWR_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
           "VIRTUAL_ENV": str(bin_dir.parent), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    running = Federation(bin_dir, directory, env)

    def start(name: str, *arguments: str) -> subprocess.Popen:
        log = directory / f"{name}.log"
        process = subprocess.Popen([str(bin_dir / arguments[0]), *arguments[1:]], stdout=log.open("w"),
                                   stderr=subprocess.STDOUT, env=env, cwd=directory, start_new_session=True)
        running.processes.append(process)
        return process

    try:
        superlink = start("superlink", "flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                          "--port", str(port))
        _wait_for_port(port, superlink, directory / "superlink.log")
        for partition, slowdown in enumerate(slowdowns):
            node_port = free_port()
            node = start(f"supernode-{partition}", "flower-supernode", "--insecure", "--superlink",
                         f"127.0.0.1:{port}", "--port", str(node_port), "--node-config",
                         f"partition-id={partition} num-partitions={len(slowdowns)} slowdown={float(slowdown)}")
            _wait_for_port(node_port, node, directory / f"supernode-{partition}.log")
        yield running
    finally:
        running.stop()


def write_data(directory: Path, shares: list, heldout) -> Path:
    """``partition-<i>.npz`` per client share and ``heldout.npz``: the data the Flower app reads."""
    directory.mkdir(parents=True, exist_ok=True)
    for partition, share in enumerate(shares):
        np.savez(directory / f"partition-{partition}.npz", x=share.x, y=share.y)
    np.savez(directory / "heldout.npz", x=heldout.x, y=heldout.y)
    return directory


def toml_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def run_flower(running: Federation, config: dict[str, Any], record: Path, rounds: int, target: float | None,
               cap_s: float, say=print) -> tuple[float, list[dict[str, Any]], str]:
    """Submit the app with ``config`` and follow the ServerApp's record until the last round, the
    first global model at or above ``target`` (then ``flwr stop``), or ``cap_s`` seconds.

    Returns the submission's epoch time, the evaluated models (round 0 is the initial model) and
    why it ended: "finished", "target" or "cap".
    """
    record.unlink(missing_ok=True)
    overrides = " ".join(f"{key}={toml_value(value)}" for key, value in
                         {**config, "num-server-rounds": rounds, "record": str(record)}.items())
    started = time.time()
    run_id = running.flwr("run", str(APP_DIR), CONNECTION, "--run-config", overrides)["run-id"]
    seen, ended, status = 0, "", ""
    for poll in itertools.count(1):
        time.sleep(0.5)
        evaluated = _records(record)  # read after the status below: a finished run's record is complete
        for item in evaluated[seen:]:
            say(f"  flower round {item['round']}: held-out accuracy {item['accuracy']:.4f} at "
                f"{item['time'] - started:.1f} s")
        seen = len(evaluated)
        if evaluated and evaluated[-1]["round"] >= rounds:
            ended = "finished"
        elif target is not None and any(item["round"] > 0 and item["accuracy"] >= target for item in evaluated):
            ended = "target"
        elif time.time() - started > cap_s:
            ended = "cap"
        if ended:
            break
        if status.startswith("finished"):
            raise RuntimeError(f"the Flower run {run_id} ended as {status!r} after {seen} evaluations; see "
                               f"{running.directory}/*.log")
        # Each flwr command is a process of its own: ask rarely, it competes with the run for the CPU.
        if poll % 20 == 0:
            status = _status(running, run_id)
    if ended != "finished":
        running.flwr("stop", run_id, CONNECTION)
    return started, _records(record), ended


def _status(running: Federation, run_id: str) -> str:
    runs = running.flwr("ls", CONNECTION, "--run-id", run_id).get("runs", [])
    return runs[0]["status"] if runs else ""


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


if __name__ == "__main__":  # `make setup` creates the venv, so no benchmark or test run waits for pip
    try:
        print(f"Flower venv ready: {flower_venv()}")
    except FlowerUnavailable as exc:
        sys.exit(f"error: {exc}")
