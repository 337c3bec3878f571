"""The rendered manifests' pods, run with podman as a kubelet runs them, as far as an image can
tell: the pod's and the container's user and group, a read-only root filesystem with nothing
writable added (podman's own tmpfs on /tmp, /run and /var/tmp is turned off), all capabilities
dropped and no privilege escalation, the memory limit, the command and arguments, the variables
(literal, from a ConfigMap or a Secret, the namespace from the downward API), and the volumes:
a Secret's items as files of its defaultMode owned by root and the pod's fsGroup, an emptyDir or
a claim as a directory of the pod shared by its containers (world-writable for an emptyDir, the
fsGroup's with the set-group-id bit for a claim, as the kubelet leaves them). So anything that
writes outside its volumes, reads a file it may not, or needs a capability fails here as it would
in a cluster.

Each namespace is a podman network; a pod's serving container answers there under the names of
the Services that select it. Names across namespaces (``kafka.kafka-ml.svc``) are host entries
pointing into a shared network without DNS, so a short name never resolves into another
namespace. podman runs with the project's containers.conf and explicit ulimits
(docker/containers.conf).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "docker" / "containers.conf"
ULIMITS = ["--ulimit", "nproc=4096:4096", "--ulimit", "nofile=4096:4096"]
MEMORY_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 10**3, "M": 10**6, "G": 10**9, "": 1}


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)})
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def memory_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]i?)?", quantity).groups()
    return int(number) * MEMORY_UNITS[unit or ""]


@dataclass
class Namespace:
    """A rendered overlay's objects, run in one podman network; everything its pods write on the
    host (volumes) is under ``work``. ``prefix`` keeps container and network names apart from any
    other run's."""

    name: str
    objects: tuple[dict[str, Any], ...]
    work: Path
    prefix: str
    #: Networks besides the namespace's own that its containers join, and host entries they get.
    networks: list[str] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"{self.prefix}-{self.name}"

    def create(self) -> Namespace:
        podman("network", "create", self.network)
        return self

    def delete(self) -> None:
        for name in reversed(self.containers):
            podman("rm", "--force", "--time", "5", name, check=False)
        podman("network", "rm", "--force", self.network, check=False)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The object of that kind named ``name`` or ``name`` plus a generator's hash suffix."""
        found = [obj for obj in self.objects if obj["kind"] == kind
                 and re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", obj["metadata"]["name"])]
        assert len(found) == 1, f"{self.name}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def secret_data(self, name: str) -> dict[str, bytes]:
        secret = self.get("Secret", name)
        return {key: base64.b64decode(value) for key, value in secret.get("data", {}).items()} | {
            key: value.encode() for key, value in secret.get("stringData", {}).items()}

    def service_names(self, labels: dict[str, str]) -> list[str]:
        return [obj["metadata"]["name"] for obj in self.objects if obj["kind"] == "Service"
                and obj["spec"].get("selector") and obj["spec"]["selector"].items() <= labels.items()]

    # --- a pod ---------------------------------------------------------------------------------

    def volumes(self, pod: str, spec: dict[str, Any]) -> dict[str, Path]:
        """The pod's volumes as host directories, made as the kubelet makes them."""
        fs_group = spec.get("securityContext", {}).get("fsGroup")
        made = {}
        for volume in spec.get("volumes", []):
            path = self.work / pod / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            if "secret" in volume:
                source = volume["secret"]
                data = self.secret_data(source["secretName"])
                items = source.get("items") or [{"key": key, "path": key} for key in data]
                for item in items:
                    file = path / item["path"]
                    file.write_bytes(data[item["key"]])
                    os.chown(file, 0, fs_group if fs_group is not None else 0)
                    os.chmod(file, item.get("mode", source.get("defaultMode", 0o644)))
                os.chmod(path, 0o755)
            elif "emptyDir" in volume:
                os.chmod(path, 0o777)
                if fs_group is not None:
                    os.chown(path, 0, fs_group)
                    os.chmod(path, 0o2777)
            elif "persistentVolumeClaim" in volume:
                os.chown(path, 0, fs_group if fs_group is not None else 0)
                os.chmod(path, 0o2775 if fs_group is not None else 0o755)
            else:
                raise AssertionError(f"{pod}: volume {volume['name']}: no rule for {sorted(volume)}")
            made[volume["name"]] = path
        return made

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(self.get("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = variable["value"]
                continue
            source = variable["valueFrom"]
            if "configMapKeyRef" in source:
                reference = source["configMapKeyRef"]
                env[variable["name"]] = self.get("ConfigMap", reference["name"])["data"][reference["key"]]
            elif "secretKeyRef" in source:
                reference = source["secretKeyRef"]
                env[variable["name"]] = self.secret_data(reference["name"])[reference["key"]].decode()
            elif source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
                env[variable["name"]] = self.name
            else:
                raise AssertionError(f"{container['name']}: {variable['name']}: no rule for {source}")
        return env

    def run_command(self, name: str, spec: dict[str, Any], container: dict[str, Any], volumes: dict[str, Path],
                    *, detach: bool, aliases: tuple[str, ...] = (), publish: tuple[str, ...] = ()) -> list[str]:
        pod_security = spec.get("securityContext", {})
        security = {**pod_security, **container.get("securityContext", {})}
        command = self._placement(name, detach, aliases, publish)
        if "runAsUser" in security:
            command += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"]
        if "fsGroup" in pod_security:
            command += ["--group-add", str(pod_security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            command += ["--read-only", "--read-only-tmpfs=false"]
        for capability in security.get("capabilities", {}).get("drop", []):
            command += ["--cap-drop", capability]
        if security.get("allowPrivilegeEscalation") is False:
            command += ["--security-opt", "no-new-privileges"]
        memory = container.get("resources", {}).get("limits", {}).get("memory")
        if memory:
            command += ["--memory", str(memory_bytes(memory))]
        for key, value in self.environment(container).items():
            command += ["--env", f"{key}={value}"]
        for mount in container.get("volumeMounts", []):
            options = "ro" if mount.get("readOnly") else "rw"
            command += ["--volume", f"{volumes[mount['name']]}:{mount['mountPath']}:{options}"]
        if "command" in container:
            command += ["--entrypoint", json.dumps(container["command"])]
        image = container["image"]
        return [*command, image, *container.get("args", [])]

    def _placement(self, name: str, detach: bool, aliases: tuple[str, ...], publish: tuple[str, ...]) -> list[str]:
        command = ["run", "--name", name, "--pull=never", *ULIMITS]
        for network in [self.network, *self.networks]:
            command += ["--network", network]
        command += ["--detach"] if detach else ["--rm"]
        for alias in aliases:
            command += ["--network-alias", alias]
        for port in publish:
            command += ["--publish", port]
        for host, address in self.hosts.items():
            command += ["--add-host", f"{host}:{address}"]
        return command

    def run_service(self, name: str, image: str, args: list[str], *, user: str, aliases: tuple[str, ...] = (),
                    volumes: dict[str, Path] | None = None, env: dict[str, str] | None = None) -> str:
        """Starts a part the cluster provides (broker, chain, database) with the restricted settings
        every pod here gets: a non-root user, a read-only root with a writable /tmp, no capability;
        returns its name."""
        container = f"{self.network}-{name}"
        volumes = dict(volumes or {})
        if "/tmp" not in volumes:
            volumes["/tmp"] = self.work / name / "tmp"
            volumes["/tmp"].mkdir(parents=True, exist_ok=True)
            os.chmod(volumes["/tmp"], 0o1777)
        command = self._placement(container, True, aliases, ())
        command += ["--user", user, "--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges"]
        for path, host in volumes.items():
            command += ["--volume", f"{host}:{path}"]
        for key, value in (env or {}).items():
            command += ["--env", f"{key}={value}"]
        self.containers.append(container)
        podman(*command, image, *args)
        return container

    def run_pod(self, kind: str, name: str, *, publish: dict[str, list[str]] | None = None,
                timeout: float = 300) -> dict[str, str]:
        """Runs the workload's init containers one after the other (each must exit 0), then starts
        its containers; returns their podman names by container name."""
        spec = self.get(kind, name)["spec"]["template"]["spec"]
        labels = self.get(kind, name)["spec"]["template"]["metadata"].get("labels", {})
        volumes = self.volumes(name, spec)
        for init in spec.get("initContainers", []):
            container_name = f"{self.network}-{name}-{init['name']}"
            done = podman(*self.run_command(container_name, spec, init, volumes, detach=False), check=False,
                          timeout=timeout)
            assert done.returncode == 0, (f"{self.name}/{name}: init container {init['name']} failed "
                                          f"({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        started = {}
        for container in spec["containers"]:
            container_name = f"{self.network}-{name}-{container['name']}"
            self.containers.append(container_name)
            podman(*self.run_command(container_name, spec, container, volumes, detach=True,
                                     aliases=tuple(self.service_names(labels)),
                                     publish=tuple((publish or {}).get(container["name"], ()))))
            started[container["name"]] = container_name
        return started


def published_port(container: str, port: int) -> int:
    """The host port (on 127.0.0.1) podman published ``port`` of ``container`` on."""
    address = podman("port", container, str(port)).stdout.strip().splitlines()[0]
    return int(address.rsplit(":", 1)[1])


def address(container: str, network: str) -> str:
    """The container's IP address on ``network``."""
    return podman("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
                  container).stdout.strip()


def logs(container: str) -> str:
    done = podman("logs", container, check=False)
    return (done.stdout + done.stderr)[-4000:]


def wait_running(container: str, seconds: float = 5) -> None:
    """Fails when the container exits within ``seconds`` (a bad setting, a refused file)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        assert state == "running", f"{container} is {state}:\n{logs(container)}"
        time.sleep(0.5)


# --- helpers of the tests -------------------------------------------------------------------

def new_namespace(created: list[Namespace], name: str, objects, work: Path) -> Namespace:
    made = Namespace(name, tuple(objects), work / name, f"kml{uuid.uuid4().hex[:6]}").create()
    created.append(made)
    return made


def with_secrets(objects, values: dict[str, dict[str, str]]) -> list[dict]:
    """The rendered objects with Secret keys' values replaced (Secret name without its hash suffix →
    key → value): the overlays render from the committed examples, which hold placeholders."""
    changed = copy.deepcopy(list(objects))
    for obj in changed:
        name = obj["metadata"]["name"]
        for secret, keys in values.items():
            if obj["kind"] == "Secret" and (name == secret or name.startswith(secret + "-")):
                obj["data"].update({key: base64.b64encode(value.encode()).decode() for key, value in keys.items()})
    return changed


def platform_keys() -> dict[str, str]:
    """Fresh keys, made as docs/deploy-kubernetes.md says."""
    return {"backend-secret-key": secrets.token_urlsafe(50), "eth-admin-key": "0x" + secrets.token_hex(32),
            "logger-token": secrets.token_hex(20)}


def http_in(container: str, url: str, host: str = "localhost", timeout_s: float = 90) -> tuple[int, str]:
    """GET ``url`` from inside ``container``'s network namespace (its image's Python), retried
    until it answers 200 or ``timeout_s`` passes."""
    script = ("import sys, urllib.request as u\n"
              f"r = u.urlopen(u.Request({url!r}, headers={{'Host': {host!r}}}), timeout=5)\n"
              "print(r.status); print(r.read().decode()[:2000])")
    deadline = time.monotonic() + timeout_s
    while True:
        done = podman("exec", container, "python", "-c", script, check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        wait_running(container, 0)
        time.sleep(1)
    assert done.returncode == 0, f"{url} from {container}: {done.stderr[-1500:]}\n{logs(container)}"
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def http(url: str, host: str = "localhost", timeout_s: float = 60) -> tuple[int, dict, bytes]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=5) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
