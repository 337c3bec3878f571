"""The platform backend as a part of the local stack: gunicorn on a free port, migrated, with a
first administrator.

The backend gets the same settings a cluster gives it (kustomize/), pointed at the local parts:
the platform broker, the chain, the platform account's key file as the factory admin key, SQLite
in the run directory (or ``DATABASE_URL`` when set), jobs as local processes. Its secret key is
generated once into the run directory (0600); the administrator's password and API token are in
``platform-admin.json`` (0600), written by ``python -m backend ensure_admin``. The data control
logger registers with a relay token of its own (``keys/platform-relay.token``, 0600), which the
backend adopts as a cluster's init container does (``ensure_logger_token``): no user's token.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kafkaml.local.manage import run_commands

if TYPE_CHECKING:
    from kafkaml.local.accounts import LocalAccount
    from kafkaml.local.state import Part, Stack

ADMIN_FILE = "platform-admin.json"
SIGNER_KEY_FILE = "keys/platform-signer.key"
#: The platform data control logger's relay token (kafkaml.services.registry.auth).
RELAY_TOKEN_FILE = "keys/platform-relay.token"
SECRET_KEY_FILE = "keys/backend-secret-key"
WORKERS = 2
THREADS = 8
#: The web UI as `npm run build` in frontend/ writes it; the backend serves it at / when it exists.
UI_BUILD = Path(__file__).resolve().parents[2] / "frontend" / "dist"


class BackendError(RuntimeError):
    """The backend could not be prepared (migrations, administrator); the message has its output."""


def private_file(path: Path, make: Callable[[], str]) -> Path:
    """``path``, written once (0600) with ``make()`` when it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
    return path


def secret_key_file(run_dir: Path) -> Path:
    return private_file(run_dir / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))


def relay_token_file(path: Path) -> Path:
    """A relay token for a logger (made once): what ``ensure_logger_token`` adopts."""
    return private_file(path, lambda: secrets.token_hex(20))


def signer_account(run_dir: Path) -> LocalAccount:
    """The key classic announcements are signed with (made once): the platform's, not the admin's."""
    from kafkaml.local.accounts import LocalAccount, new_account

    path = run_dir / SIGNER_KEY_FILE
    if not path.exists():
        return new_account(path)
    from eth_account import Account

    return LocalAccount("platform-signer", Account.from_key(path.read_text().strip()).address, path)


def environment(stack: Stack, part: Part) -> dict[str, str]:
    """The backend's settings in local mode (a cluster sets the same names in its ConfigMap)."""
    run_dir = stack.run_dir
    env = {
        "DJANGO_SETTINGS_MODULE": "backend.settings", "KAFKAML_RUN_DIR": str(run_dir),
        "BACKEND_SECRET_KEY_FILE": str(secret_key_file(run_dir)),
        "BACKEND_ALLOWED_HOSTS": "127.0.0.1,localhost", "BACKEND_PUBLIC_URL": part.address,
        "BOOTSTRAP_SERVERS": stack.bootstrap("platform"), "ETH_RPC_URL": stack.chain.address,
        "ETH_CHAIN_ID": str(stack.chain_id), "ETH_ADMIN_KEY_FILE": str(stack.account("platform").key_file),
        "PLATFORM_SIGNER_KEY_FILE": str(signer_account(run_dir).key_file),
        "JOB_LAUNCHER": "local", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if (UI_BUILD / "index.html").is_file():
        env["BACKEND_UI_DIR"] = str(UI_BUILD)
    for name in ("DATABASE_URL", "PATH", "HOME", "LANG"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def prepare(stack: Stack, part: Part) -> None:
    """Apply the migrations, make sure the first administrator exists and adopt the data control
    logger's relay token."""
    try:
        run_commands("backend", environment(stack, part), setup_commands(stack.run_dir))
    except RuntimeError as error:
        raise BackendError(str(error)) from None


def setup_commands(run_dir: Path) -> list[list[str]]:
    """The backend's management commands before its first start, with their files in ``run_dir``:
    migrations, the first administrator (ADMIN_FILE), the relay token (RELAY_TOKEN_FILE)."""
    return [["migrate", "--noinput"], ["ensure_admin", "--credentials", str(run_dir / ADMIN_FILE)],
            ["ensure_logger_token", "--token-file", str(relay_token_file(run_dir / RELAY_TOKEN_FILE))]]


def logger_environment(stack: Stack) -> dict[str, str]:
    """The platform's data control logger: the platform broker's data control topic relayed to the
    backend's registration endpoint, with its relay token."""
    backend = stack.backend
    assert backend is not None, "the data control logger needs the platform backend"
    env = {"DATA_BOOTSTRAP_SERVERS": stack.bootstrap("platform"),
           "REGISTRY_URL": f"{backend.address}/api/datasources/register/",
           "REGISTRY_TOKEN_FILE": str(stack.run_dir / RELAY_TOKEN_FILE), "PYTHONUNBUFFERED": "1"}
    for name in ("PATH", "HOME", "LANG"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def command(part: Part, *, workers: int = WORKERS, threads: int = THREADS) -> list[str]:
    if part.kind == "logger":
        return [sys.executable, "-m", "data_control_logger"]
    return [sys.executable, "-m", "gunicorn", "backend.wsgi:application", "--bind", f"127.0.0.1:{part.port}",
            "--workers", str(workers), "--threads", str(threads), "--timeout", "300", "--graceful-timeout", "10",
            "--access-logfile", "-"]


def healthy(url: str, timeout_s: float) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health/", timeout=timeout_s) as response:
            return json.loads(response.read()).get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def deploy_contracts(stack: Stack) -> str:
    """Have the platform backend deploy the platform's contracts (once per chain); their token."""
    backend = stack.backend
    assert backend is not None
    request = urllib.request.Request(f"{backend.address}/api/chain/", data=b"", method="POST",
                                     headers={"Authorization": f"Token {admin_credentials(stack.run_dir)['token']}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["token"]


def admin_credentials(run_dir: Path) -> dict[str, str]:
    """The first administrator's user name, password and API token (written by ``prepare``)."""
    return json.loads((run_dir / ADMIN_FILE).read_text())
