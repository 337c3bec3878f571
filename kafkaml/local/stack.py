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

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafkaml import config, processes
from kafkaml.chain_node import rpc
from kafkaml.local import platform
from kafkaml.local.accounts import DEV_BALANCE_ETH, write_accounts
from kafkaml.local.kinds import MEMORY_ONLY_NOTE, kind_of
from kafkaml.local.state import (
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
        try:
            for part in infrastructure:  # a part that cannot start (a missing binary) stops the ones before it
                _start(part, stack, settings)
            save(stack)
            _wait_healthy_moving(stack, infrastructure, movable, settings)
            _create_control_topics([part for part in infrastructure if part.kind == "broker"])
            _fund(stack)
            services = sorted((part for part in to_start if part.kind in SERVICE_ORDER),
                              key=lambda part: SERVICE_ORDER.index(part.kind))
            for kind in SERVICE_ORDER:  # each kind needs the ones before it
                starting = [part for part in services if part.kind == kind]
                if kind == "client-backend" and starting and not stack.platform_token:
                    stack.platform_token = platform.deploy_contracts(stack)
                for part in starting:
                    kind_of(part).prepare(part, stack)
                    _start(part, stack, settings)
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


def _create_control_topics(brokers: list[Part]) -> None:
    """The control topics, as their writers create them (one partition: one order of records),
    before anything can read them: the broker would create a topic read before it exists with its
    default partition count, which every writer then refuses."""
    for broker in brokers:
        wanted = [DATA_CONTROL_TOPIC] + ([MODEL_CONTROL_TOPIC] if broker.name == "platform" else [])
        for topic in wanted:
            ensure_topic(broker.address, topic, configs=CONTROL_TOPIC_CONFIG)


def _start(part: Part, stack: Stack, settings: dict[str, Any]) -> None:
    kind = kind_of(part)
    binary = kind.binary(stack, settings)
    command = kind.command(part, stack, binary)
    if part.pid:  # it ran before: this is a restart
        part.restarts.append(time.time())
    part.pid = processes.spawn(command, log_path(stack.run_dir, part.name), kind.environment(part, stack))
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


def _wait_healthy_moving(stack: Stack, parts: list[Part], movable: set[str], settings: dict[str, Any]) -> None:
    """:func:`_wait_healthy`, starting a part of ``movable`` again on a new free port when another
    process took its port between the pick and the bind (a probe cannot reserve a port)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            _wait_healthy(stack, parts, settings["KAFKAML_READY_TIMEOUT_S"])
            return
        except PortClash as clash:
            if clash.part.name not in movable or attempt == PORT_ATTEMPTS:
                raise
            clash.part.port, clash.part.pid = processes.free_port(), 0
            _start(clash.part, stack, settings)
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
            if kind_of(part).healthy(part, timeout_s=0.5):
                pending.remove(part)
        if pending and time.monotonic() > deadline:
            names = ", ".join(part.name for part in pending)
            raise StackError(f"{names} did not answer within {timeout_s:.0f} s; see 'kafkaml local logs'")
        if pending:
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


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
    kind = kind_of(part)
    running = processes.is_running(part.pid, part.executable)
    healthy = running and kind.healthy(part, timeout_s=2.0)
    if not running:
        note = "not running: 'kafkaml local up' restarts it"
        if part.kind == "broker":
            note += " (empty: " + MEMORY_ONLY_NOTE + ")"
    elif not healthy:
        note = "process runs but does not answer; see 'kafkaml local logs " + part.name + "'"
    else:
        note = kind.note(part, stack)
    return PartStatus(part, running, healthy, note)
