"""A federated client's services in local mode: its federated backend (gunicorn on a free port)
and its two loggers, beside its broker — what each data owner runs in its own namespace.

Each client's backend keeps its own SQLite database and jobs directory under
``<run dir>/clients/<client>/``; its trainers mount the client's key file from the stack's
``keys/`` (the local stand-in for the client's wallet Secret). The loggers register with a relay
token (``relay.token``, 0600, beside the first administrator's credentials), which the backend
adopts (``ensure_logger_token``): it can register and read progress, nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kafkaml.local.manage import run_commands

if TYPE_CHECKING:
    from kafkaml.local.state import Stack



TOKEN_FILE = "relay.token"
ADMIN_FILE = "admin.json"


def directory(stack: Stack, client: str) -> Path:
    return stack.run_dir / "clients" / client


def admin_credentials(home: Path) -> dict[str, str]:
    """The client's first administrator's user name, password and API token (written by ``prepare``)."""
    return json.loads((home / ADMIN_FILE).read_text())


def backend_environment(stack: Stack, client: str, *, token_address: str = "",
                        platform_signer: str = "", site_policy: str = "auto") -> dict[str, str]:
    from kafkaml.local.platform import secret_key_file

    home = directory(stack, client)
    env = {
        "DJANGO_SETTINGS_MODULE": "federated_backend.settings", "KAFKAML_RUN_DIR": str(stack.run_dir),
        "BACKEND_SECRET_KEY_FILE": str(secret_key_file(stack.run_dir)), "BACKEND_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{home / 'federated.sqlite3'}", "BACKEND_STORAGE_DIR": str(home / "files"),
        "FEDERATED_CLIENT_ID": client, "KML_CLOUD_BOOTSTRAP_SERVERS": stack.bootstrap("platform"),
        "DATA_BOOTSTRAP_SERVERS": stack.bootstrap(client), "ETH_RPC_URL": stack.chain.address,
        "ETH_CHAIN_ID": str(stack.chain_id), "ETH_TOKEN_ADDRESS": token_address,
        "PLATFORM_SIGNER_ADDRESS": platform_signer, "CLIENT_WALLET_SECRET": "keys",
        "CLIENT_WALLET_SECRET_KEY": f"{client}.key", "CLIENT_WALLET_ADDRESS": stack.account(client).address,
        "SITE_POLICY": site_policy, "JOB_LAUNCHER": "local", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return _with_basics(env)


def prepare(env: dict[str, str], home: Path) -> Path:
    """Migrations, the first administrator and the loggers' relay token; returns the token's file."""
    from kafkaml.local.platform import relay_token_file

    home.mkdir(parents=True, exist_ok=True)
    token_file = relay_token_file(home / TOKEN_FILE)
    run_commands("federated_backend", env, (["migrate", "--noinput"],
                                            ["ensure_admin", "--credentials", str(home / ADMIN_FILE)],
                                            ["ensure_logger_token", "--token-file", str(token_file)]))
    return token_file


def backend_command(port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "federated_backend.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "8", "--timeout", "300", "--access-logfile", "-"]


def data_logger_environment(stack: Stack, client: str, url: str, token_file: Path) -> dict[str, str]:
    return _with_basics({"DATA_BOOTSTRAP_SERVERS": stack.bootstrap(client),
                         "REGISTRY_URL": f"{url}/api/datasources/register/", "REGISTRY_TOKEN_FILE": str(token_file),
                         "PYTHONUNBUFFERED": "1"})


def model_logger_environment(stack: Stack, url: str, token_file: Path) -> dict[str, str]:
    return _with_basics({"KML_CLOUD_BOOTSTRAP_SERVERS": stack.bootstrap("platform"),
                         "REGISTRY_URL": f"{url}/api/models/register/", "REGISTRY_TOKEN_FILE": str(token_file),
                         "PYTHONUNBUFFERED": "1"})


def _with_basics(env: dict[str, str]) -> dict[str, str]:
    for name in ("PATH", "HOME", "LANG"):
        if os.environ.get(name):
            env.setdefault(name, os.environ[name])
    return env
