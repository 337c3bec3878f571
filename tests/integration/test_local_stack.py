"""The local stack brought up, broken and torn down for real: each test runs a private stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kafkaml import processes
from kafkaml.chain_node import rpc
from kafkaml.local import stack as local
from kafkaml.local.binaries import BinaryMissing, anvil_binary, hardhat_command


def kafkaml_cli(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KAFKAML_RUN_DIR": str(run_dir), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "kafkaml.cli", *args], env=environment,
                          capture_output=True, text=True, timeout=120)


def recorded_pids(run_dir: Path) -> list[int]:
    return [part["pid"] for part in json.loads((run_dir / local.STATE_FILE).read_text())["parts"]]


def test_up_status_down_from_other_shells_leaves_nothing_running(tmp_path: Path) -> None:
    started = kafkaml_cli(tmp_path, "local", "up", "--clients", "3", "--no-platform")
    assert started.returncode == 0, started.stderr
    pids = recorded_pids(tmp_path)
    assert len(pids) == 5

    status = kafkaml_cli(tmp_path, "local", "status")
    assert status.returncode == 0, status.stdout
    assert "4 healthy broker(s), 1 healthy chain(s), 0 down" in status.stdout
    assert "memory-only" in status.stdout

    stopped = kafkaml_cli(tmp_path, "local", "down")
    assert stopped.returncode == 0
    assert "stopped platform, client-1, client-2, client-3, chain" in stopped.stdout
    assert not any(processes.is_running(pid) for pid in pids)
    assert not (tmp_path / local.STATE_FILE).exists()

    again = kafkaml_cli(tmp_path, "local", "down")
    assert again.returncode == 0
    assert "nothing to stop" in again.stdout

    after = kafkaml_cli(tmp_path, "local", "status")
    assert after.returncode == 1
    assert "no local stack" in after.stdout


def test_killed_broker_is_reported_down_then_restarted_empty(tmp_path: Path) -> None:
    running = local.up(1, tmp_path)
    try:
        client = running.parts[1]
        os.killpg(client.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while processes.is_running(client.pid, client.executable) and time.monotonic() < deadline:
            time.sleep(0.05)
        by_name = {item.part.name: item for item in local.status(tmp_path)}
        assert not by_name["client-1"].healthy
        assert "not running" in by_name["client-1"].note
        assert "lost" in by_name["client-1"].note
        assert by_name["platform"].healthy and by_name["chain"].healthy

        platform_pid = running.parts[0].pid
        restarted = local.up(1, tmp_path)
        assert restarted.parts[0].pid == platform_pid, "a healthy part must be kept, not restarted"
        assert restarted.parts[1].port == client.port, "a restarted broker keeps its address"
        by_name = {item.part.name: item for item in local.status(tmp_path)}
        assert by_name["client-1"].healthy
        assert "restarted at" in by_name["client-1"].note
        assert "gone" in by_name["client-1"].note
    finally:
        local.down(tmp_path)


def test_port_taken_gets_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        result = kafkaml_cli(tmp_path, "local", "up", "--clients", "1", "--broker-port", str(taken))
    assert result.returncode == 2
    assert f"port {taken}" in result.stderr and "already in use" in result.stderr
    assert not (tmp_path / local.STATE_FILE).exists()


@pytest.mark.parametrize("kind", ["broker", "chain"])
def test_a_picked_port_taken_before_the_part_binds_it_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  kind: str) -> None:
    """Another process (another test session) takes a port between the stack's pick and its
    part's bind: the part starts again on another free port instead of failing the stack."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([None, taken] if kind == "chain" else [taken])  # picked in order: platform broker, chain
        pick = processes.free_port
        monkeypatch.setattr(processes, "free_port", lambda: next(picks, None) or pick())
        monkeypatch.setattr(processes, "ensure_port_free", lambda port, owner: None)  # the squatter binds after it
        running = local.up(0, tmp_path)
        try:
            part = running.part("platform" if kind == "broker" else "chain")
            assert part.port != taken and not part.restarts
            assert all(status.healthy for status in local.status(tmp_path))
            said = (tmp_path / "logs" / f"{part.name}.log").read_text()
            assert any(words in said for words in local.PORT_IN_USE), said[-2000:]
        finally:
            local.down(tmp_path)


def test_restart_on_a_port_taken_meanwhile_is_refused_clearly(tmp_path: Path) -> None:
    running = local.up(0, tmp_path)
    try:
        platform = running.parts[0]
        processes.stop_group(platform.pid)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", platform.port))
            squatter.listen()
            with pytest.raises(processes.PortTaken, match=f"port {platform.port} for platform"):
                local.up(0, tmp_path)
        assert local.status(tmp_path)[1].healthy, "the chain must be untouched by the refused restart"
    finally:
        local.down(tmp_path)


def processes_of_run(run_dir: Path) -> list[int]:
    """Live processes started for ``run_dir`` (they inherit KAFKAML_RUN_DIR from the command)."""
    marker = f"KAFKAML_RUN_DIR={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0") \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_missing_binary_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = kafkaml_cli(tmp_path, "local", "up", env={"KAFKAML_ANVIL_BIN": str(tmp_path / "no-anvil"),
                                                       "KAFKAML_CHAIN_NODE": "anvil"})
    assert result.returncode == 2
    assert "KAFKAML_ANVIL_BIN" in result.stderr and "not an executable file" in result.stderr
    assert not (tmp_path / local.STATE_FILE).exists()
    assert not processes_of_run(tmp_path), "the brokers started before the chain failed are still running"

    monkeypatch.setenv("PATH", "")
    with pytest.raises(BinaryMissing, match="run 'make setup'.*npm ci"):
        anvil_binary(project_root=tmp_path)
    with pytest.raises(BinaryMissing, match="hardhat.*run 'make setup'.*npm ci"):
        hardhat_command(project_root=tmp_path)


def test_stale_run_directory_after_a_crash_is_recovered(tmp_path: Path) -> None:
    running = local.up(1, tmp_path)
    try:
        for part in running.parts:  # a crash: every process dies, stack.json stays behind
            os.killpg(part.pid, signal.SIGKILL)
        time.sleep(0.2)
        assert not any(item.running for item in local.status(tmp_path))
        recovered = local.up(1, tmp_path)
        assert all(item.healthy for item in local.status(tmp_path))
        assert all(part.restarts for part in recovered.parts)
    finally:
        local.down(tmp_path)


def test_unreadable_state_file_is_reported_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / local.STATE_FILE).write_text("{not json")
    with pytest.raises(local.StackError, match="unreadable"):
        local.status(tmp_path)


@pytest.mark.parametrize("node", ["anvil", "hardhat"])
def test_clients_can_be_added_to_a_running_stack_and_are_funded(tmp_path: Path, node: str) -> None:
    local.up(1, tmp_path, chain_node=node)
    try:
        grown = local.up(3, tmp_path, chain_node=node)
        client_version = rpc(grown.chain.address, "web3_clientVersion", [], 5)
        assert client_version.lower().startswith({"anvil": "anvil/", "hardhat": "hardhatnetwork/"}[node])
        assert [part.name for part in grown.brokers] == ["platform", "client-1", "client-2", "client-3"]
        assert all(item.healthy for item in local.status(tmp_path))
        balance = rpc(grown.chain.address, "eth_getBalance", [grown.account("client-3").address, "latest"], 5)
        assert int(balance, 16) > 0
        assert oct(grown.account("client-3").key_file.stat().st_mode & 0o777) == "0o600"
    finally:
        local.down(tmp_path)


def test_a_restarted_hardhat_node_is_reported_empty(tmp_path: Path) -> None:
    """Hardhat's node keeps its chain in memory only: a restart cannot bring it back, and says so."""
    running = local.up(0, tmp_path, chain_node="hardhat")
    try:
        os.killpg(running.chain.pid, signal.SIGKILL)
        time.sleep(0.2)
        restarted = local.up(0, tmp_path, chain_node="hardhat").chain
        by_name = {item.part.name: item for item in local.status(tmp_path)}
        assert by_name["chain"].healthy
        assert "in memory only" in by_name["chain"].note and "RESTARTED EMPTY" in by_name["chain"].note
        reported = kafkaml_cli(tmp_path, "local", "status", "--json")
        assert json.loads(reported.stdout)["chain_node"] == "hardhat", reported.stdout + reported.stderr
    finally:
        local.down(tmp_path)
    assert not processes.is_running(restarted.pid)  # down stops Hardhat's node (Node.js) as it stops Anvil


def test_chain_with_a_torn_state_file_restarts_empty_and_says_so(tmp_path: Path) -> None:
    running = local.up(0, tmp_path, chain_node="anvil")
    try:
        chain = running.chain
        os.killpg(chain.pid, signal.SIGKILL)
        time.sleep(0.2)
        (tmp_path / "chain" / "state.json").write_text('{"block": {"number": ')  # a write cut short
        local.up(0, tmp_path, chain_node="anvil")
        by_name = {item.part.name: item for item in local.status(tmp_path)}
        assert by_name["chain"].healthy
        assert "RESTARTED EMPTY" in by_name["chain"].note
        assert list((tmp_path / "chain").glob("state.unreadable-*.json"))
    finally:
        local.down(tmp_path)
