"""The Kubernetes manifests, proven offline: no cluster and no image registry is contacted.

Every overlay of ``kustomize/platform`` and ``kustomize/federated-client`` is rendered with
``kubectl kustomize`` (its Secrets from the committed ``*.example`` files, in a copy of the tree),
and every object it yields is checked: against the Kubernetes 1.32 schema (strict: an unknown field
is an error), against the security defaults every workload must carry, against the settings the
project's programs declare (``kafkaml.config.REGISTRY``), and against what the backend's job
launcher sends (image, service account, user id, the API calls its Role must allow). The client
namespace's own checks are in ``test_client_manifests.py``, on the same helpers.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from kafkaml import config
from kafkaml.cli.config import load_declarations
from kafkaml.jobs import JobSpec, Role, SecretFile
from kafkaml.jobs.kubernetes_launcher import KubernetesApi, KubernetesLauncher
from kafkaml.jobs.manifest import PodSecurity, deployment_manifest, job_manifest
from kafkaml.jobs.rules import PRIVATE_KEY_LIKE
from kafkaml.jobs.spec import LABEL_JOB, LABEL_ROLE

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "kustomize"
OVERLAYS_DIR = KUSTOMIZE / "platform" / "overlays"
COMPONENTS_DIR = KUSTOMIZE / "platform" / "components"
OVERLAYS = sorted(path.name for path in OVERLAYS_DIR.iterdir() if (path / "kustomization.yaml").is_file())
CLIENT_OVERLAYS_DIR = KUSTOMIZE / "federated-client" / "overlays"
CLIENT_OVERLAYS = sorted(path.name for path in CLIENT_OVERLAYS_DIR.iterdir() if (path / "kustomization.yaml").is_file())
#: Every overlay by name, and where it is under kustomize/.
OVERLAY_PATHS = {**{name: f"platform/overlays/{name}" for name in OVERLAYS},
                 **{name: f"federated-client/overlays/{name}" for name in CLIENT_OVERLAYS}}
ALL_OVERLAYS = sorted(OVERLAY_PATHS)

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
#: The project's images (repository names, before any registry prefix) and their programs.
PLATFORM_IMAGE, WORKER_IMAGE, UI_IMAGE = "kafka-ml/platform", "kafka-ml/worker", "kafka-ml/ui"
BACKEND_SERVICE_ACCOUNT = "kafka-ml-platform"
#: The overlays' namespace and the jobs' own (kustomize/platform/base/rbac.yaml says why).
PLATFORM_NAMESPACE, JOBS_NAMESPACE = "kafka-ml", "kafka-ml-jobs"
#: The accounts whose pods call the Kubernetes API (they launch jobs): only theirs mount a token.
API_SERVICE_ACCOUNTS = {BACKEND_SERVICE_ACCOUNT, "kafka-ml-federated-backend"}
#: Secrets each made by a secretGenerator; the hash suffix is off only where a setting names the
#: Secret for the launcher (CLIENT_WALLET_SECRET, mounted by the client's trainer jobs).
GENERATED_SECRETS = ("kafka-ml-platform-keys", "kafka-ml-database", "postgres-password", "blockscout",
                     "kafka-ml-client-keys")
UNHASHED_SECRETS = ("kafka-ml-client-wallet",)
#: A pod template annotation that must say why a container's root filesystem stays writable.
WRITABLE_ROOT = "kafka-ml/writable-root-filesystem"
#: Modules whose declarations are the settings the platform backend reads (its own, the job
#: launcher's, the ledger client's and the local-mode settings it shares).
BACKEND_MODULES = ("kafkaml.services.settings", "backend.api.environment", "kafkaml.jobs.settings", "kafkaml.config",
                   "kafkaml.ledger.transactions")
SECRETISH_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN|DATABASE_URL")
#: Settings named like a secret that hold none: the *name* of a Secret and of its key (the trainer
#: jobs mount it; the service never reads it), and a contract's public address.
NAMES_NOT_SECRETS = {"CLIENT_WALLET_SECRET", "CLIENT_WALLET_SECRET_KEY", "ETH_TOKEN_ADDRESS"}


# --- rendering -------------------------------------------------------------------------------

def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not installed: run `make kubectl` (part of `make setup`; as root it installs "
                    "Debian's kubernetes-client package)")
    version = json.loads(subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                                        text=True, check=True).stdout)
    kustomize = version.get("kustomizeVersion", "")
    if not re.match(r"v([4-9]|\d\d)\.", kustomize):
        pytest.fail(f"{path} embeds kustomize {kustomize or '(none)'}: the overlays need kustomize v4 or later "
                    "(components, replacements), i.e. kubectl 1.21 or later")
    return path


@cache
def _rendered_tree() -> Path:
    """A copy of kustomize/ with each Secret file created from its committed ``.example``."""
    import atexit
    import tempfile

    scratch = tempfile.mkdtemp(prefix="kafkaml-kustomize-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    target = Path(scratch) / "kustomize"
    shutil.copytree(KUSTOMIZE, target)
    for example in target.rglob("*.example"):
        real = example.with_suffix("")
        if not real.exists():
            shutil.copyfile(example, real)
    return target


def render_directory(directory: Path) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return tuple(obj for obj in yaml.safe_load_all(done.stdout) if obj)


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    return render_directory(_rendered_tree() / OVERLAY_PATHS[overlay])


def objects(overlay: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [obj for obj in render(overlay) if kind is None or obj["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> dict[str, Any]:
    """The object of that kind whose name is ``name`` or ``name`` plus a generator's hash suffix."""
    found = [obj for obj in objects(overlay, kind)
             if re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", obj["metadata"]["name"])]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def workloads(overlay: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind/name, pod template metadata, pod spec) of every workload."""
    for obj in render(overlay):
        if obj["kind"] in WORKLOAD_KINDS:
            template = pod_template(obj)
            yield f"{obj['kind']}/{obj['metadata']['name']}", template.get("metadata", {}), template["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def backend(overlay: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The backend's pod spec and its main container."""
    pod = pod_template(one(overlay, "Deployment", "kafka-ml-backend"))["spec"]
    return pod, next(c for c in pod["containers"] if c["name"] == "backend")


def environment(overlay: str, container: dict[str, Any]) -> dict[str, str | None]:
    """The container's variables: ConfigMap values through envFrom, then literal values; a value
    taken from elsewhere (a Secret, the downward API) is None."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps (Secrets are files)"
        configmap = next(obj for obj in objects(overlay, "ConfigMap")
                         if obj["metadata"]["name"] == source["configMapRef"]["name"])
        env.update(configmap.get("data", {}))
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value")
    return env


def image_parts(image: str) -> tuple[str, str]:
    """(repository with registry, tag) of an image reference with a tag."""
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{image}: no tag"
    return repository, tag


# --- build and schema ------------------------------------------------------------------------

def test_the_overlays_and_components_exist() -> None:
    assert set(OVERLAYS) == {"dev", "production"}
    assert "example-vehicle-1" in CLIENT_OVERLAYS
    used = set()
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((OVERLAYS_DIR / overlay / "kustomization.yaml").read_text())
        used |= {Path(path).name for path in kustomization.get("components", [])}
    assert used == {path.name for path in COMPONENTS_DIR.iterdir()}, "a component no overlay uses"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_platform_overlay_builds(overlay: str) -> None:
    kinds = {obj["kind"] for obj in render(overlay)}
    assert {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
            "PersistentVolumeClaim", "Ingress"} <= kinds
    namespaces = {obj["metadata"].get("namespace") for obj in render(overlay) if obj["kind"] != "Namespace"}
    assert namespaces == {PLATFORM_NAMESPACE, JOBS_NAMESPACE}, "the platform's namespace and its jobs'"
    in_jobs = {obj["kind"] for obj in render(overlay) if obj["metadata"].get("namespace") == JOBS_NAMESPACE}
    assert in_jobs == {"ServiceAccount", "Role", "RoleBinding", "NetworkPolicy"}, "the jobs' Secrets come at run time"


def test_dev_has_every_component_and_production_none() -> None:
    dev = {obj["metadata"]["name"] for obj in objects("dev", "StatefulSet")}
    assert dev == {"kafka", "postgres", "geth", "blockscout-db"}
    assert {obj["metadata"]["name"] for obj in objects("dev", "Deployment")} == {
        "kafka-ml-backend", "kafka-ml-ui", "kafka-ml-data-control-logger", "blockscout", "blockscout-frontend"}
    assert one("dev", "Job", "geth-fund-accounts")
    assert {obj["metadata"]["name"] for obj in objects("production", "Deployment")} == {
        "kafka-ml-backend", "kafka-ml-ui", "kafka-ml-data-control-logger"}
    assert not objects("production", "StatefulSet") and not objects("production", "Job")


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_object_validates_against_the_kubernetes_1_32_schema(overlay: str) -> None:
    for obj in render(overlay):
        assert kubernetes_validate.validate(obj, "1.32", strict=True) == "1.32", obj["metadata"]["name"]


def test_the_schema_check_catches_a_misspelt_field() -> None:
    deployment = json.loads(json.dumps(one("production", "Deployment", "kafka-ml-backend")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.32", strict=True)


# --- security defaults -----------------------------------------------------------------------

def _is_name_of_generated(name: str, base: str) -> bool:
    return re.fullmatch(rf"{re.escape(base)}-[a-z0-9]{{10}}", name) is not None


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_workload_carries_the_security_defaults(overlay: str) -> None:
    problems = []
    for name, metadata, pod in workloads(overlay):
        pod_security = pod.get("securityContext", {})
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile RuntimeDefault")
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                problems.append(f"{name}: {flag}")
        if any("hostPath" in volume for volume in pod.get("volumes", [])):
            problems.append(f"{name}: hostPath volume")
        token = pod.get("automountServiceAccountToken")
        if pod.get("serviceAccountName") in API_SERVICE_ACCOUNTS:
            if token is not True:
                problems.append(f"{name}: a backend uses the API, its token is mounted explicitly")
        elif token is not False:
            problems.append(f"{name}: automountServiceAccountToken false (only the backends call the API)")
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in containers(pod):
            where = f"{name}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            if security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot")
            user = security.get("runAsUser")
            if not isinstance(user, int) or user < 1:
                problems.append(f"{where}: a numeric non-root runAsUser")
            context = container.get("securityContext", {})
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation false")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
            if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get("capabilities", {}).get("add"):
                problems.append(f"{where}: capabilities drop ALL, add none")
            writable_why = metadata.get("annotations", {}).get(WRITABLE_ROOT, "").strip()
            if context.get("readOnlyRootFilesystem") is not True and not writable_why:
                problems.append(f"{where}: readOnlyRootFilesystem (or the {WRITABLE_ROOT} annotation saying why not)")
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
                problems.append(f"{where}: an emptyDir on /tmp")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if set(resources.get(part, {})) < {"cpu", "memory"}:
                    problems.append(f"{where}: cpu and memory {part}")
            repository, tag = image_parts(container["image"])
            if tag == "latest" or not re.search(r"\d", tag):
                problems.append(f"{where}: a fixed image tag, not {tag!r}")
            if container.get("imagePullPolicy") == "Always":
                problems.append(f"{where}: a pinned tag needs no imagePullPolicy Always")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_secret_file_a_container_mounts_is_readable_by_its_user(overlay: str) -> None:
    """The kubelet writes a Secret's files as root, with the pod's fsGroup as their group when it has
    one: a file of mode 0440 is readable by a non-root container only through that group (the
    loggers' token files were not, and the loggers stopped at start: tests/containers)."""
    problems = []
    for name, _, pod in workloads(overlay):
        pod_security = pod.get("securityContext", {})
        secrets = {volume["name"]: volume["secret"] for volume in pod.get("volumes", []) if "secret" in volume}
        for container in containers(pod):
            security = {**pod_security, **container.get("securityContext", {})}
            for mount in container.get("volumeMounts", []):
                secret = secrets.get(mount["name"])
                if secret is None or security.get("runAsUser", 0) == 0:
                    continue
                for item in secret.get("items") or [{"key": "*"}]:
                    mode = item.get("mode", secret.get("defaultMode", 0o644))
                    # The kubelet adds the fsGroup to every container's groups.
                    readable = mode & 0o004 or (mode & 0o040 and pod_security.get("fsGroup") is not None)
                    if not readable:
                        problems.append(f"{name}/{container['name']}: {secret['secretName']} {item['key']} "
                                        f"(mode {mode:o}, fsGroup {pod_security.get('fsGroup')})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_servers_have_named_ports_and_probes(overlay: str) -> None:
    servers = 0
    for obj in render(overlay):
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            for container in pod_template(obj)["spec"]["containers"]:
                where = f"{obj['metadata']['name']}/{container['name']}"
                assert all(port.get("name") for port in container.get("ports", [])), where
                if container.get("ports"):  # a server; the loggers serve nothing and have no port
                    servers += 1
                    assert container.get("readinessProbe") and container.get("livenessProbe"), where
                else:
                    assert container["args"][:2] == ["python", "-m"] and "logger" in container["args"][2], where
        if obj["kind"] == "Service":
            assert obj["spec"].get("type", "ClusterIP") == "ClusterIP", f"{obj['metadata']['name']}: no LoadBalancer"
            assert all(isinstance(port["targetPort"], str) for port in obj["spec"]["ports"]), obj["metadata"]["name"]
    assert servers >= 2


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_no_secret_in_a_configmap_or_a_plain_environment_value(overlay: str) -> None:
    for configmap in objects(overlay, "ConfigMap"):
        for key, value in configmap.get("data", {}).items():
            assert key in NAMES_NOT_SECRETS or not SECRETISH_NAME.search(key), (
                f"{configmap['metadata']['name']}: {key} belongs in a Secret")
            assert not PRIVATE_KEY_LIKE.search(value), f"{configmap['metadata']['name']}: {key} looks like a key"
    for name, _, pod in workloads(overlay):
        for volume in pod.get("volumes", []):
            if "secret" in volume:  # 0o440 at most: the pod's group reads it, nobody else
                mode = volume["secret"].get("defaultMode", 0o644)
                assert mode & 0o337 == 0, f"{name}: Secret volume {volume['name']} mode {mode:#o}"
        for container in containers(pod):
            for variable in container.get("env", []):
                if "value" not in variable:
                    continue
                where = f"{name}/{container['name']}: {variable['name']}"
                assert not PRIVATE_KEY_LIKE.search(variable["value"]), f"{where} looks like a key"
                assert not SECRETISH_NAME.search(variable["name"]) or variable["name"].endswith("_FILE"), (
                    f"{where}: a secret comes from a Secret (a file, or secretKeyRef), never a literal")
    for secret in objects(overlay, "Secret"):
        name = secret["metadata"]["name"]
        assert name in UNHASHED_SECRETS or any(_is_name_of_generated(name, base) for base in GENERATED_SECRETS), (
            f"{name}: Secrets come from secretGenerator files only")


def test_secret_files_are_not_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "kustomize"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    secrets = [path for path in tracked if "/secrets/" in path]
    assert secrets and all(path.endswith(".example") for path in secrets), secrets
    for overlay in ALL_OVERLAYS:
        directory = KUSTOMIZE / OVERLAY_PATHS[overlay]
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for generator in kustomization.get("secretGenerator", []):
            assert generator["name"] in GENERATED_SECRETS + UNHASHED_SECRETS
            assert (generator["name"] in UNHASHED_SECRETS) == bool(
                generator.get("options", {}).get("disableNameSuffixHash")), generator["name"]
            for entry in generator["files"]:
                path = entry.split("=", 1)[-1]
                assert (directory / f"{path}.example").is_file(), f"{overlay}: {path}.example"
        ignored = subprocess.run(["git", "check-ignore", "-q", f"kustomize/{OVERLAY_PATHS[overlay]}/secrets/x"],
                                 cwd=ROOT)
        assert ignored.returncode == 0, f"{overlay}/secrets/ is not ignored by git"


# --- settings --------------------------------------------------------------------------------

@cache
def backend_settings() -> dict[str, config.Setting]:
    import importlib

    load_declarations()
    groups = [value for module in BACKEND_MODULES for value in vars(importlib.import_module(module)).values()
              if isinstance(value, config.SettingGroup)]
    assert all(any(group is registered for registered in config.REGISTRY) for group in groups)
    return {setting.name: setting for group in groups for setting in group.settings}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_backend_sets_only_declared_settings_and_every_required_one(overlay: str) -> None:
    declared = backend_settings()
    pod, _ = backend(overlay)
    for container in containers(pod):
        assert image_parts(container["image"])[0].endswith(PLATFORM_IMAGE)
        env = environment(overlay, container)
        undeclared = sorted(set(env) - set(declared))
        assert not undeclared, f"{container['name']}: not a declared setting of the backend: {undeclared}"
        missing = sorted(name for name, setting in declared.items() if setting.required and not env.get(name))
        assert not missing, f"{container['name']}: required settings not set: {missing}"
        # The service refuses to start without its secret key; the chain needs the admin key.
        for name in ("BACKEND_SECRET_KEY_FILE", "ETH_ADMIN_KEY_FILE", "DATABASE_URL_FILE", "POD_NAMESPACE"):
            assert name in env, f"{container['name']}: {name}"
        assert env["JOB_LAUNCHER"] == "kubernetes"
        # Every value parses as its setting declares (types, ranges, choices), as at start-up.
        values = {name: value if value is not None else "/placeholder" for name, value in env.items()}
        values["POD_NAMESPACE"] = "kafka-ml"
        for setting in declared.values():
            setting.read(values)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_backends_secrets_are_files_and_its_namespace_comes_from_the_downward_api(overlay: str) -> None:
    pod, container = backend(overlay)
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "DATABASE_URL" not in env  # the URL carries a password: only as a file
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for name, generated in (("BACKEND_SECRET_KEY_FILE", "kafka-ml-platform-keys"),
                            ("ETH_ADMIN_KEY_FILE", "kafka-ml-platform-keys"), ("DATABASE_URL_FILE", "kafka-ml-database")):
        path = Path(env[name]["value"])
        mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent)
        secret = volumes[mount["name"]]["secret"]
        assert mount.get("readOnly") is True
        assert path.name in {item["path"] for item in secret["items"]}, name
        assert _is_name_of_generated(secret["secretName"], generated)
    # The probes reach the pod address with a Host header the backend answers to.
    allowed = environment(overlay, container)["BACKEND_ALLOWED_HOSTS"].split(",")
    for probe in ("readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/api/health/" and http["port"] == "http"
        assert {header["value"] for header in http["httpHeaders"] if header["name"] == "Host"} <= set(allowed)
    assert "0.0.0.0:8000" in container["args"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_storage_volume_is_backend_storage_dir(overlay: str) -> None:
    pod, container = backend(overlay)
    storage = environment(overlay, container)["BACKEND_STORAGE_DIR"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == storage)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert one(overlay, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])


def test_the_dev_components_wire_their_addresses_into_the_settings() -> None:
    _, container = backend("dev")
    env = environment("dev", container)
    # By their full names: the jobs that use them run in the jobs' namespace.
    assert env["BOOTSTRAP_SERVERS"] == f"kafka.{PLATFORM_NAMESPACE}.svc:9092"
    assert env["ETH_RPC_URL"] == f"http://geth.{PLATFORM_NAMESPACE}.svc:8545"
    assert env["BACKEND_PUBLIC_URL"] == f"http://kafka-ml-backend.{PLATFORM_NAMESPACE}.svc:8000"
    assert f"kafka-ml-backend.{PLATFORM_NAMESPACE}.svc" in env["BACKEND_ALLOWED_HOSTS"].split(",")
    assert env["ETH_CHAIN_ID"] == "1337"  # Geth --dev
    services = {obj["metadata"]["name"]: obj for obj in objects("dev", "Service")}
    assert services["kafka"]["spec"]["ports"][0]["port"] == 9092
    assert services["geth"]["spec"]["ports"][0]["port"] == 8545
    geth = pod_template(one("dev", "StatefulSet", "geth"))["spec"]["containers"][0]
    assert "--dev" in geth["args"] and any(arg.startswith("--dev.period=") for arg in geth["args"])
    major, minor = (int(n) for n in re.match(r"v(\d+)\.(\d+)\.\d+$", image_parts(geth["image"])[1]).groups())
    assert (major, minor) >= (1, 15), "Geth 1.15 or later executes the contracts' EVM target (prague)"


def test_kafka_takes_messages_larger_than_a_weight_chunk() -> None:
    from kafkaml.kafka import MAX_MESSAGE_BYTES

    configmap = one("dev", "ConfigMap", "kafka-config")
    properties = dict(line.split("=", 1) for line in configmap["data"]["server.properties"].splitlines()
                      if line and not line.startswith("#"))
    assert properties["process.roles"] == "broker,controller"  # KRaft, no ZooKeeper
    producer_request = MAX_MESSAGE_BYTES + 64 * 1024  # kafkaml.kafka's max_request_size
    for key in ("message.max.bytes", "replica.fetch.max.bytes"):
        assert int(properties[key]) >= producer_request, key
    assert image_parts(pod_template(one("dev", "StatefulSet", "kafka"))["spec"]["containers"][0]["image"])[0] \
        == "apache/kafka"


# --- the jobs the backend launches -----------------------------------------------------------

def _dockerfile_user(name: str) -> tuple[int, int]:
    users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", (ROOT / "docker" / name).read_text(), re.M)
    assert len(users) == 1, name
    return int(users[0][0]), int(users[0][1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_job_settings_match_the_images_and_service_accounts(overlay: str) -> None:
    pod, container = backend(overlay)
    env = environment(overlay, container)
    # JOB_IMAGE: the worker image of the backend image's registry and release.
    platform_repository, platform_tag = image_parts(container["image"])
    job_repository, job_tag = image_parts(env["JOB_IMAGE"])
    assert platform_repository.endswith(PLATFORM_IMAGE) and job_repository.endswith(WORKER_IMAGE)
    assert job_repository.removesuffix(WORKER_IMAGE) == platform_repository.removesuffix(PLATFORM_IMAGE)
    assert job_tag == platform_tag
    # JOB_SERVICE_ACCOUNT: an account of this overlay in the jobs' namespace, with no token and no role.
    account = one(overlay, "ServiceAccount", env["JOB_SERVICE_ACCOUNT"])
    assert account["automountServiceAccountToken"] is False
    assert env["JOB_NAMESPACE"] == account["metadata"]["namespace"] == JOBS_NAMESPACE
    bound = {subject["name"] for binding in objects(overlay, "RoleBinding") for subject in binding["subjects"]}
    assert env["JOB_SERVICE_ACCOUNT"] not in bound
    assert bound == {pod["serviceAccountName"]} == {BACKEND_SERVICE_ACCOUNT}
    # The uid: the images' USER, the launcher's PodSecurity, the backend pod's.
    security = PodSecurity()
    assert _dockerfile_user("worker.Dockerfile") == _dockerfile_user("services.Dockerfile") == (
        security.run_as_user, security.run_as_group)
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        security.run_as_user, security.run_as_group)
    # And a Job the launcher would send with these settings is valid and names that account.
    spec = JobSpec(name="aggregator-1", role=Role.AGGREGATOR, owner="platform-backend", training="1",
                   image=env["JOB_IMAGE"], module="training_worker.aggregator",
                   environment={"BOOTSTRAP_SERVERS": env["BOOTSTRAP_SERVERS"] or "kafka:9092"},
                   secret_files={"RESULT_TOKEN": SecretFile("training-1", "token", "/var/run/kafka-ml/token/token")},
                   service_account=env["JOB_SERVICE_ACCOUNT"])
    job = job_manifest(spec, "kafka-ml", security)
    assert kubernetes_validate.validate(job, "1.32", strict=True) == "1.32"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_the_code_defaults_name_what_the_base_defines() -> None:
    """One source: the base's settings and accounts; the code's defaults (local runs, tests) agree."""
    import tomllib

    from backend.api.environment import PLATFORM

    defaults = {setting.name: setting.default for setting in PLATFORM.settings}
    base_settings = dict(line.split("=", 1) for line in
                         (KUSTOMIZE / "platform" / "base" / "settings.env").read_text().splitlines()
                         if line and not line.startswith("#"))
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert defaults["JOB_IMAGE"] == base_settings["JOB_IMAGE"] == f"{WORKER_IMAGE}:{version}"
    assert defaults["JOB_SERVICE_ACCOUNT"] == base_settings["JOB_SERVICE_ACCOUNT"]
    base = yaml.safe_load((KUSTOMIZE / "platform" / "base" / "kustomization.yaml").read_text())
    assert base["images"] == [{"name": PLATFORM_IMAGE, "newTag": version}, {"name": UI_IMAGE, "newTag": version}]


class _Recorder:
    """Stands in for BatchV1Api, CoreV1Api and AppsV1Api: records each call, answers with one job,
    one deployment and one pod."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, method: str):
        def call(**kwargs: Any) -> Any:
            self.calls.append(method)
            if method == "create_namespaced_secret":
                raise ApiException(status=409, reason="Conflict")  # exists: the launcher replaces it
            if method == "list_namespaced_job":
                meta = SimpleNamespace(name="aggregator-1", labels={LABEL_JOB: "aggregator-1"})
                return SimpleNamespace(items=[SimpleNamespace(metadata=meta, status=None)])
            if method == "list_namespaced_deployment":
                meta = SimpleNamespace(name="inference-1", labels={LABEL_JOB: "inference-1"}, creation_timestamp=None)
                return SimpleNamespace(items=[SimpleNamespace(metadata=meta, status=None)])
            if method == "list_namespaced_pod":
                meta = SimpleNamespace(name="aggregator-1-x", labels={LABEL_JOB: "aggregator-1"},
                                       creation_timestamp=None)
                return SimpleNamespace(items=[SimpleNamespace(metadata=meta, status=None)])
            if method == "read_namespaced_secret":
                return SimpleNamespace(data={"aggregator.key": base64.b64encode(b"k").decode()})
            return ""
        return call


VERBS = {"create": "create", "list": "list", "delete": "delete", "replace": "update", "read": "get",
         "patch": "patch"}
RESOURCES = {"job": ("batch", "jobs"), "deployment": ("apps", "deployments"), "pod": ("", "pods"),
             "pod_log": ("", "pods/log"), "secret": ("", "secrets")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_role_allows_every_call_the_launcher_makes(overlay: str) -> None:
    recorder = _Recorder()
    namespace = environment(overlay, backend(overlay)[1])["JOB_NAMESPACE"]
    launcher = KubernetesLauncher(api=KubernetesApi(batch=recorder, core=recorder, apps=recorder), namespace=namespace)
    spec = JobSpec(name="aggregator-1", role=Role.AGGREGATOR, owner="platform-backend", training="1",
                   image="kafka-ml/worker:0.1.0", module="training_worker.aggregator",
                   service_account="kafka-ml-jobs")
    inference = JobSpec(name="inference-1", role=Role.INFERENCE, owner="platform-backend", training="1",
                        image="kafka-ml/worker:0.1.0", module="inference_worker", service_account="kafka-ml-jobs",
                        replicas=2)
    launcher.put_secret("training-1", {"token": b"t"}, {"kafka-ml/training": "1"})
    launcher.read_secret("training-1", "aggregator.key")  # the sweep reads back the key it wrote
    launcher.launch(spec)
    launcher.launch(inference)
    launcher.status({"kafka-ml/training": "1"})
    launcher.logs({"kafka-ml/training": "1"})
    launcher.stop({"kafka-ml/training": "1"})
    launcher.delete_secret("training-1")
    needed = set()
    for method in recorder.calls:
        verb, _, rest = method.partition("_namespaced_")
        needed.add((*RESOURCES[rest], VERBS[verb]))
    assert len(needed) == 12, sorted(needed)
    role = one(overlay, "Role", "kafka-ml-platform-jobs")
    granted = {(group, resource, verb) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert needed <= granted, sorted(needed - granted)
    # Nothing beyond the jobs, the inference Deployments, their secrets and pods: no cluster-wide
    # role, no other resource.
    assert {resource for _, resource, _ in granted} == {"jobs", "deployments", "secrets", "pods", "pods/log"}
    assert not objects(overlay, "ClusterRole") and not objects(overlay, "ClusterRoleBinding")
    # The Secrets it manages only: in the jobs' namespace (their names are made at run time, which
    # resourceNames cannot list; it reads back only what it wrote there), and no right in the
    # platform's namespace.
    assert {verb for _, resource, verb in granted if resource == "secrets"} == {"create", "update", "get", "delete"}
    assert [r["metadata"]["namespace"] for r in objects(overlay, "Role")] == [JOBS_NAMESPACE]
    (binding,) = objects(overlay, "RoleBinding")
    assert binding["metadata"]["namespace"] == JOBS_NAMESPACE and binding["roleRef"]["name"] == "kafka-ml-platform-jobs"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": BACKEND_SERVICE_ACCOUNT,
                                    "namespace": PLATFORM_NAMESPACE}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_namespaces_enforce_the_restricted_pod_security_standard(overlay: str) -> None:
    namespaces = {obj["metadata"]["name"]: obj["metadata"].get("labels", {}) for obj in objects(overlay, "Namespace")}
    assert set(namespaces) == {PLATFORM_NAMESPACE, JOBS_NAMESPACE}
    for name, labels in namespaces.items():
        for mode in ("enforce", "warn", "audit"):
            assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", (name, mode)
    # What the launcher sends there passes it too (the job manifests' own checks: test_jobs_spec.py).
    job = job_manifest(JobSpec(name="builder-1", role=Role.BUILDER, owner="platform-backend", training="b",
                               image="kafka-ml/worker:0.1.0", module="kafkaml.builder"), JOBS_NAMESPACE, PodSecurity())
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"]["type"] == \
        "RuntimeDefault"
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


# --- the network: who may talk to whom (NetworkPolicy, evaluated here as Kubernetes would) ------

@dataclass(frozen=True)
class Peer:
    """A pod (its namespace and labels) or, with no namespace, an address outside the cluster."""

    namespace: str | None
    labels: tuple[tuple[str, str], ...] = ()
    address: str = ""

    @classmethod
    def pod(cls, namespace: str, labels: dict[str, str]) -> Peer:
        return cls(namespace, tuple(sorted(labels.items())))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_namespace: str, who: Peer) -> bool:
    if "ipBlock" in peer:  # outside addresses only here: no policy of ours names a pod's address
        block = peer["ipBlock"]
        return who.namespace is None and ipaddress.ip_address(who.address) in ipaddress.ip_network(block["cidr"]) \
            and not any(ipaddress.ip_address(who.address) in ipaddress.ip_network(e) for e in block.get("except", []))
    if who.namespace is None:
        return False
    namespaces = peer.get("namespaceSelector")
    in_namespace = who.namespace == policy_namespace if namespaces is None else _selects(
        namespaces, {"kubernetes.io/metadata.name": who.namespace})
    return in_namespace and _selects(peer.get("podSelector", {}), dict(who.labels))


def _admits(overlay: str, pod: Peer, direction: str, other: Peer, port: int) -> bool:
    """Whether the policies of ``pod``'s namespace let ``other`` in (Ingress) or out to it (Egress)."""
    if pod.namespace is None:
        return True
    selecting = [obj for obj in objects(overlay, "NetworkPolicy")
                 if obj["metadata"]["namespace"] == pod.namespace and direction in obj["spec"]["policyTypes"]
                 and _selects(obj["spec"]["podSelector"], dict(pod.labels))]
    if not selecting:
        return True  # no policy selects it: Kubernetes lets everything through
    side = "from" if direction == "Ingress" else "to"
    return any((rule.get(side) is None or any(_peer_matches(p, obj["metadata"]["namespace"], other)
                                              for p in rule[side]))
               and (rule.get("ports") is None or any(p.get("port") == port for p in rule["ports"]))
               for obj in selecting for rule in obj["spec"].get(direction.lower(), []))


def connects(overlay: str, source: Peer, target: Peer, port: int) -> bool:
    return _admits(overlay, source, "Egress", target, port) and _admits(overlay, target, "Ingress", source, port)


def _peers(overlay: str) -> dict[str, Peer]:
    """Every kind of pod of the overlay, the jobs the launcher starts, and who is around them."""
    peers = {obj["metadata"]["name"]: Peer.pod(obj["metadata"]["namespace"], pod_template(obj)["metadata"]["labels"])
             for obj in render(overlay) if obj["kind"] in {"Deployment", "StatefulSet"}}
    for role in (Role.AGGREGATOR, Role.AUDIT, Role.BUILDER, Role.SINGLE):
        spec = JobSpec(name=f"{role.value}-1", role=role, owner="platform-backend", training="1",
                       image="kafka-ml/worker:0.1.0", module="x")
        peers[role.value] = Peer.pod(JOBS_NAMESPACE, job_manifest(spec, JOBS_NAMESPACE, PodSecurity())["spec"][
            "template"]["metadata"]["labels"])
    inference = JobSpec(name="inference-1", role=Role.INFERENCE, owner="platform-backend", training="1",
                        image="kafka-ml/worker:0.1.0", module="inference_worker", replicas=2)
    peers["inference"] = Peer.pod(JOBS_NAMESPACE, deployment_manifest(inference, JOBS_NAMESPACE)["spec"][
        "template"]["metadata"]["labels"])
    peers["dns"] = Peer.pod("kube-system", {"k8s-app": "kube-dns"})
    peers["ingress-controller"] = Peer.pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    peers["a client's trainer"] = Peer.pod("vehicle-1", {LABEL_ROLE: Role.TRAINER.value})
    peers["another tenant's pod"] = Peer.pod("elsewhere", {"app": "anything"})
    peers["the internet"] = Peer(None, address="203.0.113.5")
    api = one(overlay, "NetworkPolicy", "allow-kubernetes-api")["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
    peers["the API server"] = Peer(None, address=str(ipaddress.ip_network(api)[0]))
    return peers


#: (from, to, port) that must connect in every overlay; the dev components' in dev.
MUST_CONNECT = [
    ("ingress-controller", "kafka-ml-backend", 8000), ("ingress-controller", "kafka-ml-ui", 8080),
    ("kafka-ml-ui", "kafka-ml-backend", 8000), ("kafka-ml-data-control-logger", "kafka-ml-backend", 8000),
    ("kafka-ml-backend", "the API server", 6443), ("aggregator", "kafka-ml-backend", 8000),
    ("audit", "kafka-ml-backend", 8000), ("kafka-ml-backend", "dns", 53), ("aggregator", "dns", 53),
    ("inference", "kafka-ml-backend", 8000), ("inference", "dns", 53), ("single", "kafka-ml-backend", 8000),
    ("single", "dns", 53),
]
DEV_MUST_CONNECT = [
    ("kafka-ml-backend", "postgres", 5432), ("kafka-ml-backend", "kafka", 9092), ("kafka-ml-backend", "geth", 8545),
    ("kafka-ml-data-control-logger", "kafka", 9092), ("aggregator", "kafka", 9092), ("aggregator", "geth", 8545),
    ("a client's trainer", "kafka", 9092), ("a client's trainer", "geth", 8545), ("the internet", "kafka", 9092),
    ("inference", "kafka", 9092), ("single", "kafka", 9092),
    ("blockscout", "geth", 8545),
]
#: (from, to, port) that must never connect.
MUST_NOT_CONNECT = [
    ("another tenant's pod", "kafka-ml-backend", 8000), ("the internet", "kafka-ml-backend", 8000),
    ("a client's trainer", "kafka-ml-backend", 8000), ("another tenant's pod", "kafka-ml-ui", 8080),
    ("kafka-ml-backend", "the internet", 443), ("kafka-ml-ui", "the internet", 443),
    ("aggregator", "the internet", 443), ("another tenant's pod", "aggregator", 8000),
    ("aggregator", "the API server", 6443), ("inference", "the internet", 443), ("inference", "the API server", 6443),
    ("another tenant's pod", "inference", 8000), ("single", "the internet", 443), ("single", "the API server", 6443),
    *[("builder", target, port) for target, port in [("dns", 53), ("kafka-ml-backend", 8000), ("the internet", 443),
                                                     ("the API server", 6443)]],
    *[(source, "builder", 8000) for source in ("kafka-ml-backend", "aggregator", "another tenant's pod")],
]
DEV_MUST_NOT_CONNECT = [
    ("aggregator", "postgres", 5432), ("a client's trainer", "postgres", 5432), ("builder", "kafka", 9092),
    ("inference", "postgres", 5432), ("single", "postgres", 5432),
    ("the internet", "postgres", 5432), ("a client's trainer", "blockscout", 4000),
]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_namespaces_deny_by_default_and_open_only_what_each_part_needs(overlay: str) -> None:
    policies = objects(overlay, "NetworkPolicy")
    for namespace in (PLATFORM_NAMESPACE, JOBS_NAMESPACE):
        deny = [p for p in policies if p["metadata"]["namespace"] == namespace and p["spec"]["podSelector"] == {}
                and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and not p["spec"].get("ingress")
                and not p["spec"].get("egress")]
        assert len(deny) == 1, f"{namespace}: one policy selecting every pod, both directions, no rule"
    peers = _peers(overlay)
    dev = overlay == "dev"
    for source, target, port in MUST_CONNECT + (DEV_MUST_CONNECT if dev else []):
        assert connects(overlay, peers[source], peers[target], port), f"{source} -> {target}:{port} is blocked"
    for source, target, port in MUST_NOT_CONNECT + (DEV_MUST_NOT_CONNECT if dev else []):
        assert not connects(overlay, peers[source], peers[target], port), f"{source} -> {target}:{port} is open"


def test_production_reaches_exactly_the_external_services_its_settings_name() -> None:
    env = environment("production", backend("production")[1])
    database = urlparse((OVERLAYS_DIR / "production" / "secrets" / "database-url.example").read_text().strip())
    chain = urlparse(env["ETH_RPC_URL"])
    kafka_ports = {int(address.rsplit(":", 1)[1]) for address in env["BOOTSTRAP_SERVERS"].split(",")}
    peers = _peers("production")
    chain_node = Peer.pod(chain.hostname.split(".")[1], {"app": "geth"})  # geth.<namespace>.svc
    brokers, postgres = Peer(None, address="10.20.0.5"), Peer(None, address="10.20.1.10")
    for part in ("kafka-ml-backend", "kafka-ml-data-control-logger", "aggregator", "audit"):
        assert all(connects("production", peers[part], brokers, port) for port in kafka_ports), part
        assert connects("production", peers[part], chain_node, chain.port), part
    assert connects("production", peers["kafka-ml-backend"], postgres, database.port)
    for part in ("kafka-ml-data-control-logger", "aggregator", "audit", "builder", "kafka-ml-ui"):
        assert not connects("production", peers[part], postgres, database.port), part
    assert not connects("production", peers["builder"], brokers, 9092)
    for name in ("allow-kubernetes-api", "allow-external-services", "allow-external-database",
                 "jobs-allow-external-services"):
        for rule in one("production", "NetworkPolicy", name)["spec"]["egress"]:
            for peer in rule["to"]:
                assert peer.get("ipBlock", {}).get("cidr") != "192.0.2.1/32", f"{name}: the fail-closed default"
    assert env["BACKEND_PRODUCTION"] == "true" and env["BACKEND_TRUSTED_PROXIES"] == "1", "behind the ingress, over TLS"
