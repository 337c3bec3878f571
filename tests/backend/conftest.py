"""A live platform backend for the tests: gunicorn on a free port, on a throw-away PostgreSQL
database, wired to the session's local stack (its broker, its chain, the platform account's key as
the factory admin key) with jobs as local processes — what `kafkaml local up` starts. Every answer
a test gets from it (or from a client's federated backend) must be documented by its OpenAPI
schema (``documented``)."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from kafkaml import processes
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_OWNER
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.local.manage import commands_code
from tests.backend import documented
from tests.backend.client_services import (  # noqa: F401 (fixtures of the tests here)
    ONE_ADDRESS_FOR_EVERY_TEST,
    federated_backend,
    start_clients,
)
from tests.backend.django_shell import DjangoShell

#: A user with its API token, made in the backend's shell rather than through the sign-in. Why: Django
#: hashes a password with a million PBKDF2 iterations, about half a second of processor to set it
#: and as much to check it at sign-in, and the tests make some hundred users. Here the password is
#: hashed at 1,000 iterations (a hash Django checks as any other, and upgrades at its first sign-in)
#: and the token taken directly.
USER = """
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.authtoken.models import Token
user = get_user_model().objects.filter(username={name!r}).first()
if user is None:
    user = get_user_model().objects.create_user({name!r}, is_staff={staff})
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode({name!r} + "-password-1", hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
print(Token.objects.get_or_create(user=user)[0].key)
"""


@dataclass
class Backend:
    url: str
    run_dir: Path
    env: dict[str, str]
    log_path: Path
    pid: int = 0
    admin_token: str = ""
    relay_token: str = ""
    sessions: dict[str, requests.Session] = field(default_factory=dict)
    workers: int = platform.WORKERS
    threads: int = platform.THREADS
    _shell: DjangoShell | None = None

    def shell(self, code: str) -> str:
        """What ``python -m backend shell -c code`` prints, from one shell kept running for the
        backend (tests.backend.django_shell: no interpreter start per call)."""
        if self._shell is None:
            self._shell = DjangoShell("backend", self.env, self.run_dir / "test-shell.log")
        return self._shell.run(code)

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        part = local.Part("platform-backend", "backend", int(port))
        command = platform.command(part, workers=self.workers, threads=self.threads)
        self.pid = processes.spawn(command, self.log_path, self.env)
        deadline = time.monotonic() + 60
        while not platform.healthy(self.url, 1.0):
            if time.monotonic() > deadline or not processes.is_running(self.pid):
                raise RuntimeError(f"the backend did not start:\n{processes.tail(self.log_path, 40)}")
            time.sleep(0.2)

    def stop(self, grace_s: float = 5.0) -> None:
        if self.pid:
            processes.stop_group(self.pid, grace_s)
            self.pid = 0

    def as_user(self, name: str, *, staff: bool = False) -> requests.Session:
        """A session authenticated with the API token of user ``name`` (created on first use, with
        the password ``<name>-password-1``), the token being the one ``POST /api/auth/token/``
        gives for that password (test_api_basics.py checks that they are the same)."""
        if name not in self.sessions:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {self.shell(USER.format(name=name, staff=staff)).split()[-1]}"
            self.sessions[name] = session
        return self.sessions[name]

    def dormant_result(self, owner: str) -> tuple[int, str]:
        """A running training result of ``owner`` with no job behind it, and its job token: what a
        test needs to post as that result's job (rows written directly; nothing is launched)."""
        token = secrets.token_urlsafe(32)
        code = f"""
import hashlib, uuid
from django.contrib.auth import get_user_model
from backend.api.models import Configuration, Deployment, MLModel, TrainingResult
from kafkaml.services.registry.models import Datasource
tag = uuid.uuid4().hex[:10]
user = get_user_model().objects.get_or_create(username={owner!r})[0]
model = MLModel.objects.create(owner=user, name="dormant-" + tag, source="", description_json="{{}}", parameters=0,
                               input_shape=[], output_shape=[], layers=[])
configuration = Configuration.objects.create(owner=user, name="dormant-" + tag)
configuration.ml_models.set([model])
datasource = Datasource.objects.create(datasource_id="dormant-" + tag, topic="dormant", format="RAW", counts={{}},
                                       input_shape=[], message={{}}, sha256="0" * 64, control_topic="dormant-" + tag,
                                       control_partition=0, control_offset=0)
deployment = Deployment.objects.create(owner=user, configuration=configuration, validation_datasource=datasource,
                                       coordination="classic", settings={{}}, clients={{}})
result = TrainingResult.objects.create(deployment=deployment, ml_model=model, federated_id="kml-" + tag,
                                       status="running", token_sha256=hashlib.sha256({token!r}.encode()).hexdigest())
print(result.pk)
"""
        return int(self.shell(code).split()[-1]), token

    def finished_result(self, owner: str, model: bytes = b"a trained model's file",
                        input_shape: tuple[int, ...] = (8,)) -> int:
        """A finished training result of ``owner`` with ``model`` as its final model file (rows
        and file written directly, as the aggregator would have left them; nothing is launched)."""
        code = f"""
import hashlib
from backend.api.models import TrainingResult
from backend.api.services.results import model_path
result = TrainingResult.objects.get(pk={self.dormant_result(owner)[0]})
result.ml_model.input_shape = {list(input_shape)!r}
result.ml_model.save(update_fields=["input_shape"])
path = model_path(result)
path.parent.mkdir(parents=True, exist_ok=True)
path.write_bytes({model!r})
TrainingResult.objects.filter(pk=result.pk).update(status="finished", token_sha256="", model_file=str(path),
                                                   model_sha256=hashlib.sha256({model!r}).hexdigest(),
                                                   final={{"finished": True}})
print(result.pk)
"""
        return int(self.shell(code).split()[-1])

    def running_incremental(self, result_id: int) -> None:
        """The result made a running incremental training that already served a version (rows only)."""
        code = f"""
from backend.api.models import Deployment, TrainingResult
result = TrainingResult.objects.get(pk={result_id})
Deployment.objects.filter(pk=result.deployment_id).update(kind="incremental")
TrainingResult.objects.filter(pk=result.pk).update(status="running", final=None)
"""
        self.shell(code)

    def serve_new_model(self, result_id: int, model: bytes) -> str:
        """The result's model file replaced, as an incremental training sends each version it
        serves (file and SHA-256 written directly); the new SHA-256."""
        code = f"""
import hashlib
from backend.api.models import TrainingResult
from backend.api.services.results import model_path
result = TrainingResult.objects.get(pk={result_id})
model_path(result).write_bytes({model!r})
TrainingResult.objects.filter(pk=result.pk).update(model_sha256=hashlib.sha256({model!r}).hexdigest())
"""
        self.shell(code)
        return hashlib.sha256(model).hexdigest()

    def dormant_audit(self, result_id: int) -> tuple[int, str]:
        """A running audit of the result with no job behind it, and its job token (rows only)."""
        token = secrets.token_urlsafe(32)
        code = ("import hashlib; from backend.api.models import Audit; "
                f"print(Audit.objects.create(result_id={result_id}, "
                f"token_sha256=hashlib.sha256({token!r}.encode()).hexdigest()).pk)")
        return int(self.shell(code).split()[-1]), token

    def dormant_inference(self, result_id: int, *, output_topic: str = "b",
                          bootstrap_servers: str = "kafka:9092") -> tuple[int, str]:
        """A running inference of the result with no worker behind it, and its model token (rows only)."""
        token = secrets.token_urlsafe(32)
        code = ("import hashlib; from backend.api.models import Inference, TrainingResult; "
                f"result = TrainingResult.objects.get(pk={result_id}); "
                "print(Inference.objects.create(owner_id=result.owner_id, result=result, replicas=1, "
                f"input_format='RAW', input_config={{}}, input_topic='a', output_topic={output_topic!r}, "
                f"error_topic='c', bootstrap_servers={bootstrap_servers!r}, status='running', "
                f"token_sha256=hashlib.sha256({token!r}.encode()).hexdigest()).pk)")
        return int(self.shell(code).split()[-1]), token

    def admin(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.admin_token}"
        return session

    def relay(self) -> requests.Session:
        """As the platform's data control logger: its relay token (kafkaml.services.registry.auth)."""
        session = requests.Session()
        session.headers["Authorization"] = f"Relay {self.relay_token}"
        return session


def manage(env: dict[str, str], *command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "backend", *command], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"python -m backend {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session", autouse=True)
def documented_answers() -> Iterator[None]:
    """Hold every answer of a watched service to its schema (tests.backend.documented)."""
    send = requests.Session.send

    def checked(session: requests.Session, request: requests.PreparedRequest, **options) -> requests.Response:
        response = send(session, request, **options)
        documented.check(response)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "send", checked)
        yield


@contextmanager
def running_backend(stack: local.Stack, database_url: str, run_dir: Path, *, settings: dict[str, str] | None = None,
                    workers: int = platform.WORKERS, threads: int = platform.THREADS) -> Iterator[Backend]:
    """A backend on ``stack``'s broker and chain and on that (empty) database, migrated, with a
    first administrator; ``settings`` are added to its environment."""
    part = local.Part("platform-backend", "backend", processes.free_port())
    own = local.Stack(run_dir, stack.chain_id, [*stack.parts, part], stack.accounts)
    env = {**platform.environment(own, part), "DATABASE_URL": database_url, **ONE_ADDRESS_FOR_EVERY_TEST,
           **(settings or {})}
    relay_token = platform.relay_token_file(run_dir / platform.RELAY_TOKEN_FILE)
    shell = DjangoShell("backend", env, run_dir / "test-shell.log")
    try:
        # The backend's set-up commands, in the shell the tests' own rows use next (one Django start).
        shell.run(commands_code(platform.setup_commands(run_dir)))
        running = Backend(part.address, run_dir, env, run_dir / "backend.log",
                          admin_token=json.loads((run_dir / platform.ADMIN_FILE).read_text())["token"],
                          relay_token=relay_token.read_text().strip(), workers=workers, threads=threads,
                          _shell=shell)
        documented.watch(part.address)
        running.start()
        try:
            yield running
        finally:
            running.stop()
            LocalLauncher(run_dir / "platform-jobs").stop({LABEL_OWNER: "platform-backend"})
    finally:
        shell.close()


@pytest.fixture(scope="session")
def backend(local_stack: local.Stack, postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with running_backend(local_stack, postgres_dsn, tmp_path_factory.mktemp("platform")) as running:
        yield running
