"""What each kind of the local stack's parts is: how it starts, what it is told, when it is healthy
and what ``kafkaml local status`` says of it.

A part's kind is a name in the state file (:class:`~kafkaml.local.state.Part`); :func:`kind_of`
gives its behaviour, so :mod:`kafkaml.local.stack` starts, checks and describes every part the same
way and a new kind is one class here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from kafkaml import processes
from kafkaml.chain_node import chain_id_of
from kafkaml.local import client, platform
from kafkaml.local.accounts import DEV_BALANCE_ETH, DEV_MNEMONIC
from kafkaml.local.binaries import anvil_binary, hardhat_command, tansu_binary
from kafkaml.local.state import Part, Stack

MEMORY_ONLY_NOTE = "memory-only: its topics are lost whenever it stops"


class PartKind(ABC):
    """A kind of part; the defaults are a Python service's."""

    def binary(self, stack: Stack, settings: dict[str, Any]) -> Path:
        """The executable the part's process runs (what ``status`` checks a pid against)."""
        return Path(sys.executable)

    @abstractmethod
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        """The process's command line."""

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        """The process's environment (None: the caller's)."""
        return None

    def prepare(self, part: Part, stack: Stack) -> None:
        """What must exist before the process starts (a database, credentials): nothing by default."""
        return None

    @abstractmethod
    def healthy(self, part: Part, timeout_s: float) -> bool:
        """Whether the running part answers."""

    @abstractmethod
    def note(self, part: Part, stack: Stack) -> str:
        """What ``status`` says of a part that runs and answers."""


class Broker(PartKind):
    def binary(self, stack: Stack, settings: dict[str, Any]) -> Path:
        return tansu_binary(settings["KAFKAML_TANSU_BIN"])

    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        url = f"tcp://127.0.0.1:{part.port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--cluster-id", f"kafkaml-{part.name}", "--storage-engine", "memory://tansu/"]

    def healthy(self, part: Part, timeout_s: float) -> bool:
        from kafkaml.kafka import broker_answers  # kafka-python only when a broker is checked

        return broker_answers(part.address, timeout_s=timeout_s)

    def note(self, part: Part, stack: Stack) -> str:
        note = MEMORY_ONLY_NOTE
        if part.restarts:
            when = time.strftime("%H:%M:%S", time.localtime(part.restarts[-1]))
            note += f"; restarted at {when}, so topics written before that are gone"
        return note


class Chain(PartKind):
    """Anvil, or Hardhat's node (``stack.chain_node``)."""

    def binary(self, stack: Stack, settings: dict[str, Any]) -> Path:
        """Anvil itself, or the Node.js that runs Hardhat."""
        if stack.chain_node == "hardhat":
            return Path(hardhat_command()[0])
        return anvil_binary(settings["KAFKAML_ANVIL_BIN"])

    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
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

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return _hardhat_environment(stack) if stack.chain_node == "hardhat" else None

    def healthy(self, part: Part, timeout_s: float) -> bool:
        return chain_id_of(part.address, timeout_s=timeout_s) is not None

    def note(self, part: Part, stack: Stack) -> str:
        note = f"{stack.chain_node}, chain id {stack.chain_id}, {len(stack.accounts)} funded accounts; "
        if stack.chain_node == "hardhat":
            note += "state in memory only: a restart loses it"
            if part.lost_state:
                note += "; RESTARTED EMPTY: the chain before the restart is gone"
        else:
            note += "state kept in chain/state.json"
            if part.lost_state:
                note += "; RESTARTED EMPTY: the saved state was unreadable (set aside in chain/)"
        return note


class _Backend(PartKind):
    def healthy(self, part: Part, timeout_s: float) -> bool:
        return platform.healthy(part.address, timeout_s)


class PlatformBackend(_Backend):
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        return platform.command(part)

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return platform.environment(stack, part)

    def prepare(self, part: Part, stack: Stack) -> None:
        platform.prepare(stack, part)

    def note(self, part: Part, stack: Stack) -> str:
        return (f"web UI {part.address}/, REST API {part.address}/api/ (docs at /api/docs/); "
                f"sign in with {platform.ADMIN_FILE}")


class ClientBackend(_Backend):
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        return client.backend_command(part.port)

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return client.backend_environment(stack, part.client, token_address=stack.platform_token,
                                          platform_signer=platform.signer_account(stack.run_dir).address)

    def prepare(self, part: Part, stack: Stack) -> None:
        client.prepare(self.environment(part, stack), client.directory(stack, part.client))

    def note(self, part: Part, stack: Stack) -> str:
        return f"{part.client}'s federated backend {part.address}/api/ (credentials in clients/{part.client}/)"


class _Logger(PartKind):
    def healthy(self, part: Part, timeout_s: float) -> bool:
        """No port: alive is healthy (it waits for its backend by itself)."""
        return processes.is_running(part.pid)


class PlatformLogger(_Logger):
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        return platform.command(part)

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return platform.logger_environment(stack)

    def note(self, part: Part, stack: Stack) -> str:
        return "relays the platform's data control topic to the backend's datasources"


class _ClientLogger(_Logger):
    def _backend(self, part: Part, stack: Stack) -> tuple[str, Path]:
        """The address of the client's federated backend and the file of the token it gave."""
        backend = stack.part(f"{part.client}-backend")
        assert backend is not None
        return backend.address, client.directory(stack, part.client) / client.TOKEN_FILE


class ClientDataLogger(_ClientLogger):
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        return [sys.executable, "-m", "data_control_logger"]

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return client.data_logger_environment(stack, part.client, *self._backend(part, stack))

    def note(self, part: Part, stack: Stack) -> str:
        return "relays its data control topic"


class ClientModelLogger(_ClientLogger):
    def command(self, part: Part, stack: Stack, binary: Path) -> list[str]:
        return [sys.executable, "-m", "model_control_logger"]

    def environment(self, part: Part, stack: Stack) -> dict[str, str] | None:
        return client.model_logger_environment(stack, *self._backend(part, stack))

    def note(self, part: Part, stack: Stack) -> str:
        return "relays the platform model control topic"


KINDS: dict[str, PartKind] = {
    "broker": Broker(), "chain": Chain(), "backend": PlatformBackend(), "logger": PlatformLogger(),
    "client-backend": ClientBackend(), "client-data-logger": ClientDataLogger(),
    "client-model-logger": ClientModelLogger(),
}


def kind_of(part: Part) -> PartKind:
    return KINDS[part.kind]


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
