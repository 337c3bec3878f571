"""The local stack: real Kafka-protocol brokers and a real Ethereum node as processes.

One Tansu broker for the platform, one per federated client, one chain: Anvil, or Hardhat's node
(``KAFKAML_CHAIN_NODE``), two independent implementations that the platform reaches through
standard JSON-RPC only; and the services (backends and loggers) when asked. What is running is
recorded in the run directory (:mod:`kafkaml.local.state`) so that ``status`` and ``down`` work
from another shell.

This Tansu build keeps topics in memory only, so a restarted broker starts empty. The stack
records every restart and ``status`` says so: nothing may rely on a local broker outliving its
process (the chain is the record; datasets can be streamed again). Anvil's chain, by contrast, is
dumped to ``chain/state.json`` every second and reloaded if Anvil is restarted by ``up``;
Hardhat's node can neither dump nor load its state, so a restarted one starts empty and ``status``
says so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafkaml import config, processes
from kafkaml.chain_node import chain_id_of, rpc
from kafkaml.local import client, platform
from kafkaml.local.accounts import DEV_BALANCE_ETH, DEV_MNEMONIC, write_accounts
from kafkaml.local.binaries import anvil_binary, hardhat_command, tansu_binary
from kafkaml.local.state import (
    LOGGERS,
    SERVICE_ORDER,
    STATE_FILE,
    Part,
    PartStatus,
    Stack,
    StackError,
    default_run_dir,
    load,
    locked,
    save,
)
from kafkaml.topics import CONTROL_TOPIC_CONFIG, DATA_CONTROL_TOPIC, MODEL_CONTROL_TOPIC, ensure_topic

MEMORY_ONLY_NOTE = "memory-only: its topics are lost whenever it stops"


def up(clients: int, run_dir: Path | None = None, *, broker_port: int | None = None,
       chain_port: int | None = None, with_platform: bool = False, chain_node: str | None = None) -> Stack:
    """Bring the stack to ``clients`` client brokers plus platform and chain, all healthy, and
    with ``with_platform`` the platform backend (see :mod:`kafkaml.local.platform`). The chain is
    ``chain_node``'s, by default the one ``KAFKAML_CHAIN_NODE`` names.

    Parts already healthy are kept; parts that died are restarted on their old ports (a killed
    broker comes back empty); missing client brokers are added. Returns the running stack.
    """
    if clients < 0:
        raise StackError("--clients must be 0 or more")
    settings = config.LOCAL.load()
    run_dir = run_dir or settings["KAFKAML_RUN_DIR"]
    tansu = tansu_binary(settings["KAFKAML_TANSU_BIN"])
    chain_node = chain_node or settings["KAFKAML_CHAIN_NODE"]
    if chain_node not in config.CHAIN_NODES:
        raise StackError(f"chain node {chain_node!r} is none of: {', '.join(config.CHAIN_NODES)}")
    with locked(run_dir):
        stack = load(run_dir)
        if stack is None:
            stack = _new_stack(run_dir, clients, settings["KAFKAML_CHAIN_ID"], chain_node, broker_port, chain_port)
        elif stack.chain_node != chain_node:
            raise StackError(
                f"the local stack in {run_dir} runs {stack.chain_node} as its chain, not {chain_node} "
                "(KAFKAML_CHAIN_NODE): run 'kafkaml local down' first to switch (its chain is lost)"
            )
        else:
            _add_missing_clients(stack, clients)
        chain_binary = _chain_binary(stack.chain_node, settings)
        if with_platform:
            _add_services(stack)
        accounts_needed = max(stack.client_count + 1, len(stack.accounts))
        if len(stack.accounts) < accounts_needed or not all(a.key_file.exists() for a in stack.accounts):
            stack.accounts = write_accounts(accounts_needed, run_dir / "keys")
        to_start = [part for part in stack.parts if not processes.is_running(part.pid, part.executable)]
        for part in to_start:
            if part.port:
                processes.ensure_port_free(part.port, part.name)
        infrastructure = [part for part in to_start if part.kind in ("broker", "chain")]
        # Ports picked here (never run, not asked for) may be taken between the pick and the bind.
        movable = {part.name for part in infrastructure if not part.pid and part.port not in (broker_port, chain_port)}
        for part in infrastructure:
            _start(part, stack, tansu if part.kind == "broker" else chain_binary)
        save(stack)
        try:
            _wait_healthy_moving(stack, infrastructure, movable, settings["KAFKAML_READY_TIMEOUT_S"],
                                 lambda part: tansu if part.kind == "broker" else chain_binary)
            _create_control_topics([part for part in infrastructure if part.kind == "broker"])
            _fund(stack)
            services = sorted((part for part in to_start if part.kind in SERVICE_ORDER),
                              key=lambda part: SERVICE_ORDER.index(part.kind))
            for kind in SERVICE_ORDER:  # each kind needs the ones before it
                starting = [part for part in services if part.kind == kind]
                if kind == "client-backend" and starting and not stack.platform_token:
                    stack.platform_token = platform.deploy_contracts(stack)
                for part in starting:
                    _prepare(part, stack)
                    _start(part, stack, Path(sys.executable))
                save(stack)
                _wait_healthy(stack, starting, max(settings["KAFKAML_READY_TIMEOUT_S"], 60.0))
        except BaseException:
            for part in to_start:  # nothing of a failed start is left running
                if part.pid:
                    processes.stop_group(part.pid)
            raise
        return stack


def status(run_dir: Path | None = None) -> list[PartStatus]:
    """Check every recorded part for real (metadata request, ``eth_chainId``)."""
    stack = load(run_dir)
    if stack is None:
        return []
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda part: _status_of(stack, part), stack.parts))


def down(run_dir: Path | None = None) -> list[str]:
    """Stop every part (whole process groups) and forget the stack; returns what was stopped."""
    run_dir = run_dir or default_run_dir()
    with locked(run_dir):
        stack = load(run_dir)
        if stack is None:
            return []
        stopped = []
        for part in stack.parts:
            if processes.is_running(part.pid, part.executable):
                stopped.append(part.name)
            if part.pid:
                processes.stop_group(part.pid)
        stopped += _stop_service_jobs(run_dir)
        (run_dir / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "chain", ignore_errors=True)
        shutil.rmtree(run_dir / "keys", ignore_errors=True)
        return stopped


def _stop_service_jobs(run_dir: Path) -> list[str]:
    """The jobs the stack's services launched (the platform's aggregators and audits, the clients'
    trainers) outlive their service's process: a stack that goes down stops them too."""
    from kafkaml.jobs import LocalLauncher
    from kafkaml.jobs.spec import LABEL_PART_OF, PART_OF

    stopped = []
    for jobs_dir in sorted(run_dir.glob("*-jobs")):
        if (jobs_dir / "jobs").is_dir():
            stopped += LocalLauncher(jobs_dir).stop({LABEL_PART_OF: PART_OF})
    return stopped


def log_path(run_dir: Path, name: str) -> Path:
    return run_dir / "logs" / f"{name}.log"


def _chain_binary(node: str, settings: dict[str, Any]) -> Path:
    """The executable of the chain's process: Anvil itself, or the Node.js that runs Hardhat."""
    if node == "hardhat":
        return Path(hardhat_command()[0])
    return anvil_binary(settings["KAFKAML_ANVIL_BIN"])


def _new_stack(run_dir: Path, clients: int, chain_id: int, chain_node: str, broker_port: int | None,
               chain_port: int | None) -> Stack:
    parts = [Part("platform", "broker", broker_port or processes.free_port())]
    parts += [Part(f"client-{n}", "broker", processes.free_port()) for n in range(1, clients + 1)]
    parts.append(Part("chain", "chain", chain_port or processes.free_port()))
    for port in {broker_port, chain_port} - {None}:
        processes.ensure_port_free(port, "the requested port")
    return Stack(run_dir, chain_id, parts, [], chain_node=chain_node)


def _add_missing_clients(stack: Stack, clients: int) -> None:
    for n in range(stack.client_count + 1, clients + 1):
        stack.parts.insert(len(stack.brokers), Part(f"client-{n}", "broker", processes.free_port()))


def _add_services(stack: Stack) -> None:
    """The platform backend and its data control logger, and per client its federated backend
    and its two loggers (what each namespace runs in a cluster)."""
    wanted = [("platform-backend", "backend", ""), ("platform-data-logger", "logger", "")]
    for broker in stack.brokers[1:]:
        wanted += [(f"{broker.name}-backend", "client-backend", broker.name),
                   (f"{broker.name}-data-logger", "client-data-logger", broker.name),
                   (f"{broker.name}-model-logger", "client-model-logger", broker.name)]
    for name, kind, owner in wanted:
        if stack.part(name) is None:
            port = processes.free_port() if kind in ("backend", "client-backend") else 0
            stack.parts.append(Part(name, kind, port, client=owner))


def _prepare(part: Part, stack: Stack) -> None:
    if part.kind == "backend":
        platform.prepare(stack, part)
    elif part.kind == "client-backend":
        client.prepare(_environment(part, stack), client.directory(stack, part.client))


def _environment(part: Part, stack: Stack) -> dict[str, str] | None:
    """A service's settings (brokers and Anvil need none beyond their command line)."""
    if part.kind == "backend":
        return platform.environment(stack, part)
    if part.kind == "logger":
        return platform.logger_environment(stack)
    if part.kind == "client-backend":
        return client.backend_environment(stack, part.client, token_address=stack.platform_token,
                                          platform_signer=platform.signer_account(stack.run_dir).address)
    if part.kind in ("client-data-logger", "client-model-logger"):
        backend = stack.part(f"{part.client}-backend")
        assert backend is not None
        token_file = client.directory(stack, part.client) / client.TOKEN_FILE
        if part.kind == "client-data-logger":
            return client.data_logger_environment(stack, part.client, backend.address, token_file)
        return client.model_logger_environment(stack, backend.address, token_file)
    if part.kind == "chain" and stack.chain_node == "hardhat":
        return _hardhat_environment(stack)
    return None


def _hardhat_environment(stack: Stack) -> dict[str, str]:
    """What kafkaml/local/hardhat/hardhat.config.js reads: Hardhat takes its chain from a
    configuration file, not from its command line. Telemetry off: the node must never ask or call
    out. Its artifacts and cache directories (it watches the first for contracts to debug) go to
    the run directory, not the source tree."""
    from kafkaml.ledger.compiler import SETTINGS  # the EVM version the contracts are compiled for

    chain_dir = stack.run_dir / "chain"
    node = {
        "chainId": stack.chain_id,
        "hardfork": SETTINGS["evmVersion"],
        "mnemonic": DEV_MNEMONIC,
        "accounts": max(len(stack.accounts), 1),
        "balanceWei": str(DEV_BALANCE_ETH * 10**18),
        "artifacts": str(chain_dir / "artifacts"),
        "cache": str(chain_dir / "cache"),
    }
    return {**os.environ, "KAFKAML_HARDHAT_NODE": json.dumps(node), "HARDHAT_DISABLE_TELEMETRY": "true"}


def _command(part: Part, stack: Stack, binary: Path) -> list[str]:
    if part.kind in ("backend", "logger"):
        return platform.command(part)
    if part.kind == "client-backend":
        return client.backend_command(part.port)
    if part.kind == "client-data-logger":
        return [sys.executable, "-m", "data_control_logger"]
    if part.kind == "client-model-logger":
        return [sys.executable, "-m", "model_control_logger"]
    if part.kind == "broker":
        url = f"tcp://127.0.0.1:{part.port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--cluster-id", f"kafkaml-{part.name}", "--storage-engine", "memory://tansu/"]
    state_dir = stack.run_dir / "chain"
    state_dir.mkdir(parents=True, exist_ok=True)
    if stack.chain_node == "hardhat":
        part.lost_state = part.lost_state or bool(part.pid)  # a restart: nothing was kept
        return [*hardhat_command(), "node", "--hostname", "127.0.0.1", "--port", str(part.port)]
    part.lost_state = part.lost_state or _set_aside_unreadable(state_dir / "state.json")
    return [str(binary), "--host", "127.0.0.1", "--port", str(part.port),
            "--chain-id", str(stack.chain_id), "--accounts", str(max(len(stack.accounts), 1)),
            "--balance", str(DEV_BALANCE_ETH), "--mnemonic", DEV_MNEMONIC,
            "--state", str(state_dir / "state.json"), "--state-interval", "1"]


def _set_aside_unreadable(state: Path) -> bool:
    """Anvil rewrites its state file in place; a kill during that write leaves a file it cannot
    load, and it would refuse to start. Such a file is renamed aside; returns True if it was."""
    if not state.exists():
        return False
    try:
        json.loads(state.read_text())
        return False
    except (json.JSONDecodeError, UnicodeDecodeError):
        state.rename(state.with_name(f"state.unreadable-{int(time.time())}.json"))
        return True


def _create_control_topics(brokers: list[Part]) -> None:
    """The control topics, as their writers create them (one partition: one order of records),
    before anything can read them: the broker would create a topic read before it exists with its
    default partition count, which every writer then refuses."""
    for broker in brokers:
        wanted = [DATA_CONTROL_TOPIC] + ([MODEL_CONTROL_TOPIC] if broker.name == "platform" else [])
        for topic in wanted:
            ensure_topic(broker.address, topic, configs=CONTROL_TOPIC_CONFIG)


def _start(part: Part, stack: Stack, binary: Path) -> None:
    command = _command(part, stack, binary)
    if part.pid:  # it ran before: this is a restart
        part.restarts.append(time.time())
    part.pid = processes.spawn(command, log_path(stack.run_dir, part.name), _environment(part, stack))
    part.executable = str(binary)
    part.started_at = time.time()


#: Times a part whose picked port was taken meanwhile is started again on another.
PORT_ATTEMPTS = 3
#: How Anvil, Tansu and Hardhat (Node.js) say, as they exit, that their port is taken.
PORT_IN_USE = ("Address already in use", "AddrInUse", "EADDRINUSE")


class PortClash(StackError):
    """A part exited at start because its port was taken."""

    def __init__(self, message: str, part: Part) -> None:
        super().__init__(message)
        self.part = part


def _wait_healthy_moving(stack: Stack, parts: list[Part], movable: set[str], timeout_s: float,
                         binary: Callable[[Part], Path]) -> None:
    """:func:`_wait_healthy`, starting a part of ``movable`` again on a new free port when another
    process took its port between the pick and the bind (a probe cannot reserve a port)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            _wait_healthy(stack, parts, timeout_s)
            return
        except PortClash as clash:
            if clash.part.name not in movable or attempt == PORT_ATTEMPTS:
                raise
            clash.part.port, clash.part.pid = processes.free_port(), 0
            _start(clash.part, stack, binary(clash.part))
            save(stack)


def _wait_healthy(stack: Stack, parts: list[Part], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(parts)
    delay = 0.02
    while pending:
        for part in list(pending):
            # Only the pid: the part was started just now, so it cannot be a recycled one, and
            # its command line may not be readable yet while the kernel finishes the exec.
            if not processes.is_running(part.pid):
                tail = processes.tail(log_path(stack.run_dir, part.name))
                message = f"{part.name} exited during start-up; last lines of {log_path(stack.run_dir, part.name)}:\n{tail}"
                clash = any(words in tail for words in PORT_IN_USE)
                raise PortClash(message, part) if clash else StackError(message)
            if _healthy(part, timeout_s=0.5):
                pending.remove(part)
        if pending and time.monotonic() > deadline:
            names = ", ".join(part.name for part in pending)
            raise StackError(f"{names} did not answer within {timeout_s:.0f} s; see 'kafkaml local logs'")
        if pending:
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _healthy(part: Part, timeout_s: float) -> bool:
    if part.kind in LOGGERS:  # no port: alive is healthy (it waits for its backend by itself)
        return processes.is_running(part.pid)
    if part.kind in ("backend", "client-backend"):
        return platform.healthy(part.address, timeout_s)
    if part.kind == "broker":
        from kafkaml.kafka import broker_answers  # kafka-python only when a broker is checked

        return broker_answers(part.address, timeout_s=timeout_s)
    return chain_id_of(part.address, timeout_s=timeout_s) is not None


#: The one dev-node method of the project, called at the stack's start-up only: everything past
#: it uses standard JSON-RPC methods, so any Ethereum node serves the platform
#: (tests/unit/test_standard_json_rpc.py holds every other file to that).
SET_BALANCE = {"anvil": "anvil_setBalance", "hardhat": "hardhat_setBalance"}


def _fund(stack: Stack) -> None:
    """Give every account without ether the dev balance (clients added after the chain started)."""
    rpc_url = stack.chain.address
    for account in stack.accounts:
        if int(rpc(rpc_url, "eth_getBalance", [account.address, "latest"], 5.0), 16) == 0:
            rpc(rpc_url, SET_BALANCE[stack.chain_node], [account.address, hex(DEV_BALANCE_ETH * 10**18)], 5.0)


def _status_of(stack: Stack, part: Part) -> PartStatus:
    running = processes.is_running(part.pid, part.executable)
    healthy = running and _healthy(part, timeout_s=2.0)
    if not running:
        note = "not running: 'kafkaml local up' restarts it"
        if part.kind == "broker":
            note += " (empty: " + MEMORY_ONLY_NOTE + ")"
    elif not healthy:
        note = "process runs but does not answer; see 'kafkaml local logs " + part.name + "'"
    elif part.kind == "broker":
        note = MEMORY_ONLY_NOTE
        if part.restarts:
            when = time.strftime("%H:%M:%S", time.localtime(part.restarts[-1]))
            note += f"; restarted at {when}, so topics written before that are gone"
    elif part.kind == "backend":
        note = f"web UI {part.address}/, REST API {part.address}/api/ (docs at /api/docs/); sign in with {platform.ADMIN_FILE}"
    elif part.kind == "logger":
        note = "relays the platform's data control topic to the backend's datasources"
    elif part.kind == "client-backend":
        note = f"{part.client}'s federated backend {part.address}/api/ (credentials in clients/{part.client}/)"
    elif part.kind in LOGGERS:
        note = f"relays {'its data' if part.kind == 'client-data-logger' else 'the platform model'} control topic"
    else:
        note = f"{stack.chain_node}, chain id {stack.chain_id}, {len(stack.accounts)} funded accounts; "
        if stack.chain_node == "hardhat":
            note += "state in memory only: a restart loses it"
            if part.lost_state:
                note += "; RESTARTED EMPTY: the chain before the restart is gone"
        else:
            note += "state kept in chain/state.json"
            if part.lost_state:
                note += "; RESTARTED EMPTY: the saved state was unreadable (set aside in chain/)"
    return PartStatus(part, running, healthy, note)
