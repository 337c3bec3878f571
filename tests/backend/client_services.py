"""A federated client's services on the local stack, for the tests: its federated backend (gunicorn)
and both control loggers, as `kafkaml local up --clients` starts them, stopped with their jobs."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from kafkaml import processes
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.local import LocalJob
from kafkaml.jobs.spec import LABEL_OWNER
from kafkaml.local import client as local_client
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.local.accounts import LocalAccount, new_account
from kafkaml.local.train import deploy_token_once
from kafkaml.topics import CONTROL_TOPIC_CONFIG, DATA_CONTROL_TOPIC, ensure_topic
from tests.backend import documented
from tests.backend.django_shell import DjangoShell
from tests.conftest import throwaway_database
from tests.jobs import local_job

#: Every test signs in from 127.0.0.1 (the fuzz passes hundreds of times): the per-address limit
#: is raised for the session's services; test_web_security.py checks it on a backend of its own.
ONE_ADDRESS_FOR_EVERY_TEST = {"BACKEND_SIGN_IN_RATE_PER_ADDRESS": "100000/day"}


@dataclass
class Client:
    name: str
    url: str
    token: str  # the client's first administrator's API token
    pid: int = 0
    loggers: list[LocalJob] = field(default_factory=list)

    def api(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def participations(self) -> list[dict]:
        return self.api().get(f"{self.url}/api/participations/", params={"limit": 200}).json()["results"]


def start_backend(name: str, env: dict[str, str], home: Path, log_path: Path) -> Client:
    """A client's federated backend (migrated, with its first administrator), without its loggers."""
    part = local.Part(f"{name}-backend", "backend", processes.free_port())
    local_client.prepare(env, home)  # writes the loggers' relay token and the administrator's credentials
    documented.watch(part.address)
    pid = processes.spawn(local_client.backend_command(part.port), log_path, env)
    deadline = time.monotonic() + 60
    while not platform.healthy(part.address, 1.0):
        if time.monotonic() > deadline or not processes.is_running(pid):
            processes.stop_group(pid)
            raise AssertionError(processes.tail(log_path, 40))
        time.sleep(0.2)
    return Client(name, part.address, local_client.admin_credentials(home)["token"], pid)


def start_client(stack: local.Stack, name: str, token_address: str, policy: str, directory: Path,
                 platform_signer: str = "", data_control_topic: str = DATA_CONTROL_TOPIC) -> Client:
    """A client's federated backend and both loggers; its data logger reads ``data_control_topic``
    (a test's own: the session's brokers hold every other test's datasources)."""
    env = local_client.backend_environment(stack, name, token_address=token_address, site_policy=policy,
                                           platform_signer=platform_signer)
    # Created as a data owner's sink creates it, before the logger reads it (a read would create it
    # with the broker's default partition count).
    ensure_topic(stack.bootstrap(name), data_control_topic, configs=CONTROL_TOPIC_CONFIG)
    running = start_backend(name, env, local_client.directory(stack, name), directory / f"{name}-backend.log")
    token_file = local_client.directory(stack, name) / local_client.TOKEN_FILE
    # The loggers of each start under a directory of their own: a test that restarts a client
    # starts loggers of the same names again, and the first ones' logs stay readable.
    jobs = Path(tempfile.mkdtemp(prefix=f"{name}-loggers-", dir=directory))
    running.loggers = [
        local_job(jobs, f"{name}-data-logger", "data_control_logger",
                  {**local_client.data_logger_environment(stack, name, running.url, token_file),
                   "DATA_CONTROL_TOPIC": data_control_topic}).start(),
        local_job(jobs, f"{name}-model-logger", "model_control_logger",
                  local_client.model_logger_environment(stack, running.url, token_file)).start(),
    ]
    return running


@pytest.fixture()
def start_clients(local_stack: local.Stack, tmp_path: Path) -> Iterator:
    """Start client-1 and client-2 (site policies auto and approval unless given) for a platform token
    (and the platform's classic signer, if given), their data loggers on the test's own data control
    topic; stop them and their jobs after."""
    started: dict[str, Client] = {}

    def start(token_address: str, data_control_topic: str, policies: tuple[str, str] = ("auto", "approval"),
              platform_signer: str = "") -> dict[str, Client]:
        for name, policy in zip(("client-1", "client-2"), policies, strict=True):
            started[name] = start_client(local_stack, name, token_address, policy, tmp_path, platform_signer,
                                         data_control_topic)
        return started

    try:
        yield start
    finally:
        for running in started.values():
            for logger in running.loggers:
                logger.stop()
            LocalLauncher(local_stack.run_dir / f"{running.name}-jobs").stop({LABEL_OWNER: "federated-backend"})
            processes.stop_group(running.pid)


@dataclass
class FederatedBackend:
    """A client's federated backend alone (no logger, no datasource, site policy ``approval``):
    it trusts classic announcements signed by ``signer`` and trainings of the platform token
    ``token_address``."""

    client: Client
    env: dict[str, str]
    signer: LocalAccount
    token_address: str
    directory: Path
    shell: DjangoShell  # its rows written directly, without a Django start per write (tests.backend.django_shell)

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def relay_token(self) -> str:
        """The token its loggers register with (kafkaml.services.registry.auth): registrations only."""
        return (self.directory / local_client.TOKEN_FILE).read_text().strip()

    def user_token(self, name: str) -> str:
        """The API token of ``name``, a user who is not staff (created on first use)."""
        password = f"{name}-password-1"
        code = ("from django.contrib.auth import get_user_model; U = get_user_model(); "
                f"U.objects.filter(username={name!r}).exists() or U.objects.create_user({name!r}, password={password!r})")
        self.shell.run(code)
        answer = requests.post(f"{self.url}/api/auth/token/", json={"username": name, "password": password}, timeout=10)
        answer.raise_for_status()
        return answer.json()["token"]

    def model_logger(self, stack: local.Stack, topic: str, directory: Path) -> LocalJob:
        """This backend's model control logger, reading ``topic`` of the platform's broker."""
        token_file = self.directory / local_client.TOKEN_FILE
        env = {**local_client.model_logger_environment(stack, self.url, token_file), "MODEL_LOGGER_TOPIC": topic}
        return local_job(directory, "model-logger", "model_control_logger", env).start()


@pytest.fixture(scope="session")
def federated_backend(local_stack: local.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FederatedBackend]:
    """client-3's federated backend on a throw-away PostgreSQL database, for the session."""
    directory = tmp_path_factory.mktemp("federated")
    signer = new_account(directory / "platform-signer.key")
    token_address = deploy_token_once(local_stack)
    with throwaway_database() as dsn:
        env = {**local_client.backend_environment(local_stack, "client-3", token_address=token_address,
                                                  platform_signer=signer.address, site_policy="approval"),
               "DATABASE_URL": dsn, **ONE_ADDRESS_FOR_EVERY_TEST}
        running = start_backend("client-3", env, directory, directory / "backend.log")
        shell = DjangoShell("federated_backend", env, directory / "test-shell.log")
        try:
            yield FederatedBackend(running, env, signer, token_address, directory, shell)
        finally:
            shell.close()
            processes.stop_group(running.pid)
            LocalLauncher(local_stack.run_dir / "client-3-jobs").stop({LABEL_OWNER: "federated-backend"})
