"""The parts around the platform that a cluster provides and the dev overlay runs from public
images (Apache Kafka, Geth, PostgreSQL), made here instead: docker/infra/ (`make infra-images`,
the images compose.yaml runs), built by docker/images.py with podman's layer cache, so only a
changed input builds again; and the single-host deployment run with them: podman-compose, and
podman's Docker-compatible service as the engine jobs are launched on."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
import yaml
from eth_account import Account

from tests.containers import pods
from tests.containers.pods import ROOT

COMPOSE = ROOT / "compose.yaml"
JOBS = ROOT / "compose.jobs.yaml"
CLIENT = ROOT / "compose.client.yaml"
SETUP = ROOT / "docker" / "compose-setup.sh"


@cache
def images_module() -> ModuleType:
    """docker/images.py, the `make images` builder (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("kafkaml_images", ROOT / "docker" / "images.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


TAGS: dict[str, str] = images_module().INFRA_TAGS


def worker_tag() -> str:
    """The jobs' image, as `make images` tags it."""
    (worker,) = [image.tag for image in images_module().IMAGES if image.name == "worker"]
    return worker


def build(work: Path) -> dict[str, str]:
    """Builds the three images (the Debian root's image must exist: `make images` made it)."""
    return images_module().build_infra(work)


# --- compose ---------------------------------------------------------------------------------

class ComposeError(AssertionError):
    """podman-compose refused or failed; the message holds its output's end."""


def podman_compose() -> str:
    found = shutil.which("podman-compose", path=str(Path(sys.executable).parent)) or shutil.which("podman-compose")
    if found is None:
        raise ComposeError("podman-compose is not installed: run `make setup` (podman-compose is in the dev extra)")
    return found


def compose(*args: str, env: dict[str, str], files: tuple[Path, ...] = (COMPOSE,), check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
    command = [podman_compose()]
    for file in files:
        command += ["-f", str(file)]
    done = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CONTAINERS_CONF": str(pods.CONTAINERS_CONF), **env})
    if check and done.returncode != 0:
        raise ComposeError(f"podman-compose {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def config(env: dict[str, str], files: tuple[Path, ...] = (COMPOSE,)) -> dict[str, Any]:
    """The file(s) as podman-compose reads them, variables interpolated."""
    return yaml.safe_load(compose("config", env=env, files=files).stdout)


def setup(directory: Path, *, client: bool = False) -> None:
    """docker/compose-setup.sh: the secrets and data directories of a platform or a client."""
    done = subprocess.run(["sh", str(SETUP), *(["--client"] if client else []), str(directory)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ComposeError(f"compose-setup.sh failed: {done.stderr}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def engine(directory: Path) -> Iterator[Path]:
    """podman's Docker-compatible service on a socket of its own, usable by the group 10001 (the
    backends'), as docs/deploy-compose.md sets up an engine's socket for compose.jobs.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
                               env={**os.environ, "CONTAINERS_CONF": str(pods.CONTAINERS_CONF)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            if time.monotonic() > deadline or service.poll() is not None:
                raise ComposeError("podman's service did not start")
            time.sleep(0.2)
        os.chown(socket_path, 0, 10001)
        os.chmod(socket_path, 0o660)
        yield socket_path
    finally:
        service.terminate()
        service.wait(timeout=30)


def containers_of(project: str) -> dict[str, str]:
    """A compose project's containers, finished ones included, by service name."""
    names = pods.podman("ps", "--all", "--filter", f"label=io.podman.compose.project={project}",
                        "--format", "{{.Names}}").stdout.split()
    return {label(name, "com.docker.compose.service"): name for name in names}


def label(container: str, name: str) -> str:
    return pods.podman("inspect", "--format", f'{{{{index .Config.Labels "{name}"}}}}', container).stdout.strip()


def one_shot_finished(container: str, timeout_s: float = 120) -> list[str]:
    """The one-shot service's state and exit code once it has stopped (podman starts one again when
    a service depending on it starts: podman-compose passes depends_on as --requires)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = pods.podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container).stdout.split()
        if state[0] in ("exited", "stopped") or time.monotonic() > deadline:
            return ["exited" if state[0] == "stopped" else state[0], *state[1:]]
        time.sleep(1)


def down(project: str, env: dict[str, str], files: tuple[Path, ...], network: str | None = None) -> None:
    """Takes a project down, and the jobs its backend left on ``network``; fails when ``down`` failed
    or left a container of the project."""
    done = compose("-p", project, "down", "--timeout", "5", env=env, files=files, check=False, timeout=300)
    if network is not None:
        for name in pods.podman("ps", "--all", "--quiet", "--filter", "label=kafka-ml/job", "--filter",
                                f"network={network}", check=False).stdout.split():
            pods.podman("rm", "--force", name, check=False)
    leftover = pods.podman("ps", "--all", "--quiet", "--filter", f"label=io.podman.compose.project={project}",
                           check=False).stdout.split()
    if done.returncode != 0 or leftover:
        raise ComposeError(f"down of {project} left {leftover}:\n{done.stderr[-2000:]}")


# --- the rendered files beside the manifests ---------------------------------------------------

def assert_restricted(name: str, service: dict[str, Any]) -> None:
    """A rendered service runs as the pods do: an image `make images` or `make infra-images` builds,
    a numeric non-root user, a read-only root with a scratch /tmp, no capability, no privilege
    escalation, and no secret in a variable."""
    images = {image.tag for image in images_module().IMAGES} | set(TAGS.values())
    assert service["image"] in images, f"{name}: {service['image']} is not an image `make images` builds"
    user, _, group = service["user"].partition(":")
    assert int(user) > 0 and int(group) > 0, f"{name}: runs as {service['user']}"
    assert service["read_only"] is True, f"{name}: a writable root filesystem"
    assert service["cap_drop"] == ["ALL"] and "no-new-privileges" in service["security_opt"], name
    assert any(mount.startswith("/tmp") for mount in service["tmpfs"]), f"{name}: no scratch /tmp"
    assert not service.get("privileged") and not service.get("cap_add"), name
    for value in (service.get("environment") or {}).values():
        assert "KEY=" not in str(value) and "postgresql://" not in str(value), f"{name}: a secret in a value"


def secret_mounts(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The container's secret files in the manifests: path → Secret key."""
    volumes = {volume["name"]: volume["secret"] for volume in pod["volumes"] if "secret" in volume}
    files = {}
    for mount in container.get("volumeMounts", []):
        for item in volumes.get(mount["name"], {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
    return files


def compose_secrets(service: dict[str, Any]) -> dict[str, str]:
    """The service's secret files: path → secret name."""
    return {secret["target"]: secret["source"] for secret in service.get("secrets", [])}


# --- a deployment: the platform's project and its clients' ---------------------------------------

#: Publishes a toy workload's data as data owners do, from a container of the worker image on the
#: deployment's network: argv[1] is JSON {"workload": [name, clients, samples, seed, split],
#: "name": run name, "clients": [each owner's broker], "platform": the platform's broker}.
#: Publishes a workload's data, once every broker answers: a client's project is up when its
#: federated backend is healthy, and its broker may still be starting (once, under the suite's
#: load, it did not answer within the client's 10 s bootstrap).
PUBLISH = """
import json, sys, time
from kafkaml.kafka import broker_answers
from kafkaml.sinks import publish_training_data
from kafkaml.workloads import make_workload
plan = json.loads(sys.argv[1])
deadline = time.monotonic() + 120
for bootstrap in [plan["platform"], *plan["clients"]]:
    while not broker_answers(bootstrap, timeout_s=5):
        if time.monotonic() > deadline:
            sys.exit(f"no broker answers at {bootstrap} after 120 s")
        time.sleep(1)
publish_training_data(make_workload(*plan["workload"]), plan["name"], plan["clients"], plan["platform"])
"""


@dataclass
class Deployment:
    """The single-host platform (compose.yaml with compose.jobs.yaml) and its clients
    (compose.client.yaml, one project each), under ``work``, on the engine at ``socket``."""

    work: Path
    socket: Path
    project: str = field(default_factory=lambda: f"kml{uuid.uuid4().hex[:6]}")
    port: int = field(default_factory=free_port)
    #: Client id → its compose project's environment.
    clients: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return f"{self.project}-net"

    @property
    def url(self) -> str:
        """The platform's UI and API (nginx), on 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"KAFKAML_COMPOSE_DIR": str(self.work / "platform"), "KAFKAML_UI_PORT": str(self.port),
                "KAFKAML_NETWORK": self.network, "KAFKAML_ENGINE_SOCKET": str(self.socket),
                "KAFKAML_ENGINE_GID": "10001"}

    def up(self) -> float:
        """Starts the platform; the seconds from `up` to a healthy API through the UI."""
        setup(self.work / "platform")
        started = time.monotonic()
        compose("-p", self.project, "up", "-d", env=self.env, files=(COMPOSE, JOBS), timeout=900)
        status, _, answer = pods.http(f"{self.url}/api/health/", timeout_s=180)
        if status != 200 or json.loads(answer)["status"] != "ok":
            raise ComposeError(f"the platform's API is not healthy: {answer[:500]!r}")
        return time.monotonic() - started

    def containers(self, project: str | None = None) -> dict[str, str]:
        return containers_of(project or self.project)

    def admin(self) -> requests.Session:
        """An API session of the platform's first administrator (made by `ensure_admin`, as
        docs/deploy-compose.md says; the credentials stay in the backend's /tmp)."""
        backend = self.containers()["backend"]
        pods.podman("exec", backend, "python", "-m", "backend", "ensure_admin", "--credentials", "/tmp/admin.json")
        credentials = json.loads(pods.podman("exec", backend, "cat", "/tmp/admin.json").stdout)
        api = requests.Session()
        api.headers["Authorization"] = f"Token {credentials['token']}"
        return api

    def fund(self, address: str, ether: int) -> None:
        """Sends ``ether`` from the platform's admin account to ``address`` (a plain transfer, as a
        chain's operator gives a data owner gas money), from inside the backend's container."""
        script = ("import os, sys; from pathlib import Path; from kafkaml.ledger.factory import PlatformLedger; "
                  "PlatformLedger.fund(os.environ['ETH_RPC_URL'], Path(os.environ['ETH_ADMIN_KEY_FILE']).read_text()"
                  ".strip(), sys.argv[1], int(sys.argv[2]) * 10**18)")
        pods.podman("exec", self.containers()["backend"], "python", "-c", script, address, str(ether))

    def add_client(self, client_id: str, token: str) -> str:
        """Starts a client's project (its secrets and fresh wallet made first) and waits for its
        federated backend's health; returns the wallet's address."""
        directory = self.work / client_id
        setup(directory, client=True)
        address = Account.from_key((directory / "data/run/kafka-ml-client-wallet/key").read_text().strip()).address
        env = {**self.env, "KAFKAML_CLIENT_ID": client_id, "KAFKAML_CLIENT_DIR": str(directory),
               "KAFKAML_WALLET_ADDRESS": address, "KAFKAML_TOKEN_ADDRESS": token}
        self.clients[client_id] = env
        compose("-p", self.client_project(client_id), "up", "-d", env=env, files=(CLIENT,), timeout=600)
        backend = self.containers(self.client_project(client_id))["federated-backend"]
        status, body = pods.http_in(backend, "http://127.0.0.1:8000/api/health/")
        if status != 200 or json.loads(body)["status"] != "ok":
            raise ComposeError(f"{client_id}'s federated backend is not healthy: {body[:500]}")
        return address

    def client_project(self, client_id: str) -> str:
        return f"{self.project}-{client_id}"

    def publish(self, workload: tuple, name: str) -> None:
        """The workload's data into each client's broker and the platform's (``PUBLISH``)."""
        plan = {"workload": list(workload), "name": name, "platform": "kafka:9092",
                "clients": [f"{client}-kafka:9092" for client in self.clients]}
        pods.podman("run", "--rm", "--pull=never", *pods.ULIMITS, "--network", self.network, "--read-only",
                    "--cap-drop", "ALL", "--security-opt", "no-new-privileges", worker_tag(),
                    "python", "-c", PUBLISH, json.dumps(plan), timeout=300)

    def down(self) -> None:
        """Every client's project, then the platform's (each even when one before failed), and
        its network; fails afterwards when any left something."""
        failures = []
        projects = [(self.client_project(client), env, (CLIENT,), None) for client, env in self.clients.items()]
        for project, env, files, network in [*projects, (self.project, self.env, (COMPOSE, JOBS), self.network)]:
            try:
                down(project, env, files, network)
            except ComposeError as exc:
                failures.append(str(exc))
        pods.podman("network", "rm", "--force", self.network, check=False)
        if failures:
            raise ComposeError("\n".join(failures))


@contextlib.contextmanager
def deployment(work: Path) -> Iterator[Deployment]:
    """A deployment on its own engine (podman's service), taken down afterwards."""
    with engine(work / "engine") as socket_path:
        made = Deployment(work, socket_path)
        try:
            yield made
        finally:
            made.down()
