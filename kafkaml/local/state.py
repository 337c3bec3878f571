"""The local stack's record: its parts, accounts and chain id, kept in ``stack.json`` in the run
directory (``KAFKAML_RUN_DIR``) so that ``status`` and ``down`` work from another shell, and the
file lock that serialises concurrent ``up``/``down`` calls. What starts and stops the parts is
:mod:`kafkaml.local.stack`; what each service part runs is :mod:`kafkaml.local.platform` and
:mod:`kafkaml.local.client`, which read this record."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kafkaml import config
from kafkaml.local.accounts import LocalAccount

STATE_FILE = "stack.json"
#: Services start in this order: each needs the ones before it (the platform backend deploys the
#: platform's contracts, whose token the clients' backends trust; loggers need their backend).
SERVICE_ORDER = ("backend", "logger", "client-backend", "client-data-logger", "client-model-logger")
LOGGERS = ("logger", "client-data-logger", "client-model-logger")


class StackError(RuntimeError):
    """The local stack cannot be brought to the requested state; the message says why."""


@dataclass
class Part:
    """One process of the stack (a broker or the chain) and where it listens."""

    name: str
    kind: str  # "broker", "chain", or a service (SERVICE_ORDER): backends and loggers
    port: int
    pid: int | None = None
    executable: str = ""
    started_at: float = 0.0
    restarts: list[float] = field(default_factory=list)
    lost_state: bool = False  # the chain restarted empty: its saved state was unreadable, or none is kept
    client: str = ""  # the federated client a client service belongs to

    @property
    def address(self) -> str:
        if self.kind in LOGGERS:
            return "-"
        if self.kind in ("chain", "backend", "client-backend"):
            return f"http://127.0.0.1:{self.port}"
        return f"127.0.0.1:{self.port}"


@dataclass
class PartStatus:
    part: Part
    running: bool
    healthy: bool
    note: str


@dataclass
class Stack:
    """What ``stack.json`` holds: the parts, the accounts, the chain id and node."""

    run_dir: Path
    chain_id: int
    parts: list[Part]
    accounts: list[LocalAccount]
    platform_token: str = ""  # the platform's RewardToken, once its backend deployed the contracts
    chain_node: str = "anvil"  # KAFKAML_CHAIN_NODE when the stack was first brought up

    @property
    def brokers(self) -> list[Part]:
        return [part for part in self.parts if part.kind == "broker"]

    @property
    def chain(self) -> Part:
        return next(part for part in self.parts if part.kind == "chain")

    @property
    def backend(self) -> Part | None:
        """The platform backend, when the stack runs one."""
        return next((part for part in self.parts if part.kind == "backend"), None)

    @property
    def client_count(self) -> int:
        return len(self.brokers) - 1

    def bootstrap(self, name: str = "platform") -> str:
        """Bootstrap address of the broker named ``platform`` or ``client-<n>``."""
        for part in self.brokers:
            if part.name == name:
                return part.address
        raise StackError(f"the local stack has no broker named {name!r}")

    def account(self, role: str) -> LocalAccount:
        for account in self.accounts:
            if account.role == role:
                return account
        raise StackError(f"the local stack has no account for {role!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "chain_node": self.chain_node,
            "platform_token": self.platform_token,
            "parts": [asdict(part) for part in self.parts],
            "accounts": [
                {"role": a.role, "address": a.address, "key_file": str(a.key_file)} for a in self.accounts
            ],
        }

    @classmethod
    def from_json(cls, run_dir: Path, data: dict[str, Any]) -> Stack:
        return cls(
            run_dir=run_dir,
            chain_id=data["chain_id"],
            parts=[Part(**part) for part in data["parts"]],
            accounts=[LocalAccount(a["role"], a["address"], Path(a["key_file"])) for a in data["accounts"]],
            platform_token=data.get("platform_token", ""),
            chain_node=data.get("chain_node", "anvil"),  # a stack.json without it is Anvil's
        )

    def part(self, name: str) -> Part | None:
        return next((part for part in self.parts if part.name == name), None)


def default_run_dir() -> Path:
    return config.LOCAL.load()["KAFKAML_RUN_DIR"]


def load(run_dir: Path | None = None) -> Stack | None:
    """The recorded stack in ``run_dir``, or None when no stack was brought up there."""
    run_dir = run_dir or default_run_dir()
    state_path = run_dir / STATE_FILE
    if not state_path.exists():
        return None
    try:
        return Stack.from_json(run_dir, json.loads(state_path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise StackError(
            f"{state_path} is unreadable ({exc}); remove the directory {run_dir} after checking that no "
            "broker or chain process of it still runs"
        ) from None


def save(stack: Stack) -> None:
    path = stack.run_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stack.to_json(), indent=2))
    temporary.replace(path)


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
