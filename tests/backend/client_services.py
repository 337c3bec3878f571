"""A federated client's services on the local stack, for the tests: its federated backend (gunicorn)
and both control loggers, as `kafkaml local up --clients` starts them, stopped with their jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_OWNER
from kafkaml.local import client as local_client
from kafkaml.local import platform, processes
from kafkaml.local import stack as local
from kafkaml.local.jobs import Job
from tests.backend import documented


@dataclass
class Client:
    name: str
    url: str
    token: str  # the client's first administrator's API token
    pid: int = 0
    loggers: list[Job] = field(default_factory=list)

    def api(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def participations(self) -> list[dict]:
        return self.api().get(f"{self.url}/api/participations/", params={"limit": 200}).json()["results"]


def start_client(stack: local.Stack, name: str, token_address: str, policy: str, directory: Path) -> Client:
    part = local.Part(f"{name}-backend", "backend", processes.free_port())
    env = local_client.backend_environment(stack, name, token_address=token_address, site_policy=policy)
    home = local_client.directory(stack, name)
    token_file = local_client.prepare(env, home)  # the loggers' relay token
    documented.watch(part.address)
    pid = processes.spawn(local_client.backend_command(part.port), directory / f"{name}-backend.log", env)
    deadline = time.monotonic() + 60
    while not platform.healthy(part.address, 1.0):
        assert time.monotonic() < deadline, processes.tail(directory / f"{name}-backend.log", 40)
        time.sleep(0.2)
    running = Client(name, part.address, local_client.admin_credentials(home)["token"], pid)
    running.loggers = [
        Job(f"{name}-data-logger", "data_control_logger",
            local_client.data_logger_environment(stack, name, part.address, token_file),
            directory / f"{name}-data-logger.log").start(),
        Job(f"{name}-model-logger", "model_control_logger",
            local_client.model_logger_environment(stack, part.address, token_file),
            directory / f"{name}-model-logger.log").start(),
    ]
    return running


@pytest.fixture()
def start_clients(local_stack: local.Stack, tmp_path: Path) -> Iterator:
    """Start client-1 and client-2 (site policies auto and approval unless given) for a platform token;
    stop them and their jobs after."""
    started: dict[str, Client] = {}

    def start(token_address: str, policies: tuple[str, str] = ("auto", "approval")) -> dict[str, Client]:
        for name, policy in zip(("client-1", "client-2"), policies, strict=True):
            started[name] = start_client(local_stack, name, token_address, policy, tmp_path)
        return started

    try:
        yield start
    finally:
        for running in started.values():
            for logger in running.loggers:
                logger.stop()
            LocalLauncher(local_stack.run_dir / f"{running.name}-jobs").stop({LABEL_OWNER: "federated-backend"})
            processes.stop_group(running.pid)
