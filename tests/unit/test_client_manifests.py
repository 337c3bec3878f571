"""A federated client's namespace, proven offline (the generic checks — schema, security defaults,
secrets, probes — run on it in ``test_manifests.py``): every variable its programs get is one they
declare and every required one is set; its trainer Jobs use the image, account and wallet Secret
it defines; its Role allows exactly what the launcher does; its NetworkPolicies deny by default
and open only the paths it needs; the platform's builder pods are cut off the network; the UI's
manifests match its image; the platform's data control logger gets the settings local mode gives
it and, like the client's loggers, the token its backend adopts (and no one else reads it); and
``kafkaml k8s client-overlay`` writes an overlay that builds.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest

from kafkaml import config
from kafkaml.cli import main as kafkaml_main
from kafkaml.cli.config import load_declarations
from kafkaml.client_overlay import CLIENT_BASE, ClientOverlay, files
from kafkaml.jobs import JobSpec, Role, SecretFile
from kafkaml.jobs.kubernetes_launcher import KubernetesApi, KubernetesLauncher
from kafkaml.jobs.manifest import PodSecurity, job_manifest
from kafkaml.jobs.spec import LABEL_JOB, LABEL_PART_OF, LABEL_ROLE, PART_OF
from kafkaml.local.platform import logger_environment
from tests.unit.test_manifests import (
    CLIENT_OVERLAYS,
    CLIENT_OVERLAYS_DIR,
    JOBS_NAMESPACE,
    OVERLAYS,
    PLATFORM_IMAGE,
    RESOURCES,
    ROOT,
    VERBS,
    _dockerfile_user,
    _Recorder,
    _rendered_tree,
    _selects,
    backend,
    containers,
    image_parts,
    objects,
    one,
    pod_template,
    render,
    render_directory,
    workloads,
)

EXAMPLE = "example-vehicle-1"
#: The example overlay is this command's output (docs/deploy-kubernetes.md shows it).
EXAMPLE_ARGS = dict(name="vehicle-1", platform_kafka="kafka.kafka-ml.svc:9092", rpc_url="http://geth.kafka-ml.svc:8545",
                    chain_id=1337, api_server_cidr="172.18.0.2/32")
#: Which program each client container runs, and the modules that declare what it reads.
PROGRAMS = {
    "federated_backend": ("kafkaml.services.settings", "federated_backend.api.environment", "kafkaml.jobs.settings",
                          "kafkaml.config", "kafkaml.ledger.transactions"),
    "data_control_logger": ("data_control_logger.settings",),
    "model_control_logger": ("model_control_logger.settings",),
}
CLIENT_API_ACCOUNT = "kafka-ml-federated-backend"


@cache
def declared(program: str) -> dict[str, config.Setting]:
    load_declarations()
    groups = [value for module in PROGRAMS[program] for value in vars(importlib.import_module(module)).values()
              if isinstance(value, config.SettingGroup)]
    return {setting.name: setting for group in groups for setting in group.settings}


def program(container: dict[str, Any]) -> str:
    argv = [*container.get("command", []), *container.get("args", [])]
    found = {name for name in PROGRAMS for part in argv if part == name or part.startswith(f"{name}.")}
    assert len(found) == 1, f"{container['name']}: which program? {argv}"
    return found.pop()


def settings_map(overlay: str) -> dict[str, str]:
    return one(overlay, "ConfigMap", "kafka-ml-client-settings")["data"]


def client_environment(overlay: str, container: dict[str, Any]) -> dict[str, str | None]:
    """Like test_manifests.environment, with configMapKeyRef values read from their ConfigMap."""
    configmaps = {obj["metadata"]["name"]: obj.get("data", {}) for obj in objects(overlay, "ConfigMap")}
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {}).get("configMapKeyRef")
        env[variable["name"]] = (configmaps[reference["name"]][reference["key"]] if reference
                                 else variable.get("value"))
    return env


def our_pods(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [(obj["metadata"]["name"], pod_template(obj)["spec"]) for obj in objects(overlay, "Deployment")]


# --- what the namespace holds ----------------------------------------------------------------

@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_client_namespace_holds_its_services_in_one_namespace(overlay: str) -> None:
    assert {obj["metadata"]["name"] for obj in objects(overlay, "Deployment")} == {
        "kafka-ml-federated-backend", "kafka-ml-data-control-logger", "kafka-ml-model-control-logger"}
    assert [obj["metadata"]["name"] for obj in objects(overlay, "StatefulSet")] == ["kafka"]
    namespace = objects(overlay, "Namespace")[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {obj["metadata"].get("namespace") for obj in render(overlay) if obj["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]}
    assert not objects(overlay, "Ingress"), "a client exposes nothing"


# --- settings: declared, required, parsed ----------------------------------------------------

@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_each_program_gets_only_its_declared_settings_and_every_required_one(overlay: str) -> None:
    seen = set()
    for name, pod in our_pods(overlay):
        for container in containers(pod):
            assert image_parts(container["image"])[0].endswith(PLATFORM_IMAGE), name
            which = program(container)
            seen.add(which)
            settings = declared(which)
            env = client_environment(overlay, container)
            undeclared = sorted(set(env) - set(settings))
            assert not undeclared, f"{name}/{container['name']}: not declared by {which}: {undeclared}"
            missing = sorted(n for n, setting in settings.items() if setting.required and not env.get(n))
            assert not missing, f"{name}/{container['name']}: required settings not set: {missing}"
            values = {n: value if value is not None else "/placeholder" for n, value in env.items()}
            for setting in settings.values():
                setting.read(values)  # types, ranges and choices as at start-up
    assert seen == set(PROGRAMS)


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_federated_backend_is_wired_as_its_code_expects(overlay: str) -> None:
    pod = pod_template(one(overlay, "Deployment", "kafka-ml-federated-backend"))["spec"]
    backend = next(c for c in pod["containers"] if c["name"] == "federated-backend")
    env = {variable["name"]: variable for variable in backend["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    settings = client_environment(overlay, backend)
    assert settings["JOB_LAUNCHER"] == "kubernetes" and settings["DATA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # The database (SQLite in KAFKAML_RUN_DIR) is on the claim, so a restart starts no trainer twice.
    mount = next(m for m in backend["volumeMounts"] if m["mountPath"] == settings["KAFKAML_RUN_DIR"])
    claim = next(v for v in pod["volumes"] if v["name"] == mount["name"])["persistentVolumeClaim"]["claimName"]
    assert one(overlay, "PersistentVolumeClaim", claim)
    # Health on the pod address, with a Host header the service answers to.
    assert "0.0.0.0:8000" in backend["args"]
    for probe in ("readinessProbe", "livenessProbe"):
        http = backend[probe]["httpGet"]
        assert http["path"] == "/api/health/" and http["port"] == "http"
        assert {h["value"] for h in http["httpHeaders"]} <= set(settings["BACKEND_ALLOWED_HOSTS"].split(","))


def _secret_file(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) of the file ``path`` a container mounts from a Secret."""
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(Path(path).parent))
    assert mount.get("readOnly") is True, path
    secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    key = next(item["key"] for item in secret["items"] if item["path"] == Path(path).name)
    return secret["secretName"], key


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_loggers_use_the_token_the_backend_adopts_and_reach_its_registry(overlay: str) -> None:
    backend_pod = pod_template(one(overlay, "Deployment", "kafka-ml-federated-backend"))["spec"]
    adopt = next(c for c in backend_pod["initContainers"] if "ensure_logger_token" in c["command"])
    adopted = _secret_file(backend_pod, adopt, adopt["command"][adopt["command"].index("--token-file") + 1])
    serving = next(c for c in backend_pod["containers"] if c["name"] == "federated-backend")
    assert not any("logger" in m["mountPath"] for m in serving["volumeMounts"]), "the server never reads the token"
    service = one(overlay, "Service", "kafka-ml-federated-backend")
    for name, path in (("kafka-ml-data-control-logger", "/api/datasources/register/"),
                       ("kafka-ml-model-control-logger", "/api/models/register/")):
        pod = pod_template(one(overlay, "Deployment", name))["spec"]
        logger = pod["containers"][0]
        env = client_environment(overlay, logger)
        assert _secret_file(pod, logger, env["REGISTRY_TOKEN_FILE"]) == adopted, name
        url = urlparse(env["REGISTRY_URL"])
        assert (url.hostname, url.port, url.path) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"],
                                                      path), name


# --- the platform's data control logger, and who reads a loggers' token ------------------------

PLATFORM_LOGGER = "kafka-ml-data-control-logger"
TOKEN_KEY = "logger-token"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_platform_logger_gets_the_settings_local_mode_gives_it(overlay: str) -> None:
    pod = pod_template(one(overlay, "Deployment", PLATFORM_LOGGER))["spec"]
    (logger,) = containers(pod)
    assert image_parts(logger["image"])[0].endswith(PLATFORM_IMAGE) and program(logger) == "data_control_logger"
    assert "envFrom" not in logger, "key by key: the platform's ConfigMap holds the backend's settings"
    settings, env = declared("data_control_logger"), client_environment(overlay, logger)
    # The same names as `kafkaml local up` sets (its declared ones; PATH and the like are not settings).
    stack = SimpleNamespace(backend=SimpleNamespace(address="http://127.0.0.1:8000"), run_dir=Path("/run"),
                            bootstrap=lambda side: "127.0.0.1:9092")
    assert set(env) == set(logger_environment(stack)) & set(settings)
    missing = sorted(n for n, setting in settings.items() if setting.required and not env.get(n))
    assert not missing, f"required settings not set: {missing}"
    for setting in settings.values():
        setting.read(env)
    # The platform's own Kafka, and the backend's Service under a host name the backend accepts.
    _, server = backend(overlay)
    backend_env = client_environment(overlay, server)
    assert env["DATA_BOOTSTRAP_SERVERS"] == backend_env["BOOTSTRAP_SERVERS"]
    service = one(overlay, "Service", "kafka-ml-backend")
    url = urlparse(env["REGISTRY_URL"])
    assert (url.hostname, url.port, url.path) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"],
                                                  "/api/datasources/register/")
    assert url.hostname in backend_env["BACKEND_ALLOWED_HOSTS"].split(",")
    # No API access: an account with no token and no Role.
    account = one(overlay, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False and pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] not in {s["name"] for b in objects(overlay, "RoleBinding") for s in b["subjects"]}


def _secret_sources(volume: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, str]] | None]]:
    """(Secret name, items or None for every key) of a volume, projected ones included."""
    if "secret" in volume:
        yield volume["secret"]["secretName"], volume["secret"].get("items")
    for source in volume.get("projected", {}).get("sources", []):
        if "secret" in source:
            yield source["secret"]["name"], source["secret"].get("items")


def _readers(overlay: str, secret: str, key: str) -> set[str]:
    """Every container of the overlay that can read that Secret key (volume or variable)."""
    readers = set()
    for name, _, pod in workloads(overlay):
        exposing = {volume["name"] for volume in pod.get("volumes", []) for found, items in _secret_sources(volume)
                    if found == secret and (items is None or any(item["key"] == key for item in items))}
        for container in containers(pod):
            refs = {(v["valueFrom"]["secretKeyRef"]["name"], v["valueFrom"]["secretKeyRef"]["key"])
                    for v in container.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})}
            whole = {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            if mounted & exposing or (secret, key) in refs or secret in whole:
                readers.add(f"{name}/{container['name']}")
    return readers


@pytest.mark.parametrize("overlay", sorted([*OVERLAYS, *CLIENT_OVERLAYS]))
def test_a_loggers_token_is_read_by_its_loggers_and_the_init_container_that_adopts_it(overlay: str) -> None:
    platform = overlay in OVERLAYS
    module, deployment = ("backend", "kafka-ml-backend") if platform else (
        "federated_backend", "kafka-ml-federated-backend")
    loggers = [PLATFORM_LOGGER] if platform else [PLATFORM_LOGGER, "kafka-ml-model-control-logger"]
    pod = pod_template(one(overlay, "Deployment", deployment))["spec"]
    (adopt,) = [c for c in pod.get("initContainers", []) if "ensure_logger_token" in c.get("command", [])]
    # The backend's own management entry point, with the backend's settings (the same database).
    assert adopt["command"][:4] == ["python", "-m", module, "ensure_logger_token"]
    assert adopt["envFrom"] == pod["containers"][0]["envFrom"] and adopt["env"] == pod["containers"][0]["env"]
    secret, key = _secret_file(pod, adopt, adopt["command"][adopt["command"].index("--token-file") + 1])
    assert key == TOKEN_KEY
    for name in loggers:
        logger_pod = pod_template(one(overlay, "Deployment", name))["spec"]
        (logger,) = logger_pod["containers"]
        token_file = client_environment(overlay, logger)["REGISTRY_TOKEN_FILE"]
        assert _secret_file(logger_pod, logger, token_file) == (secret, key), name
    # Nobody else: not the serving container, not the UI, Kafka or the other Secret's users.
    assert _readers(overlay, secret, key) == {f"Deployment/{deployment}/{adopt['name']}",
                                              *(f"Deployment/{name}/logger" for name in loggers)}


# --- the trainer jobs the federated backend launches -----------------------------------------

def test_the_code_defaults_name_what_the_client_base_defines() -> None:
    """One source: the base's settings and accounts; the federated backend's defaults agree."""
    from federated_backend.api.environment import CLIENT

    defaults = {setting.name: setting.default for setting in CLIENT.settings}
    base = dict(line.split("=", 1) for line in (CLIENT_BASE / "settings.env").read_text().splitlines() if line)
    for name in ("JOB_IMAGE", "JOB_SERVICE_ACCOUNT", "CLIENT_WALLET_SECRET", "CLIENT_WALLET_SECRET_KEY",
                 "DATA_CONTROL_TOPIC", "MODEL_LOGGER_TOPIC"):
        assert defaults[name] == base[name], name
    platform_base = dict(line.split("=", 1) for line in
                         (ROOT / "kustomize" / "platform" / "base" / "settings.env").read_text().splitlines() if line)
    assert base["JOB_IMAGE"] == platform_base["JOB_IMAGE"], "one worker image for both sides"


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_trainer_jobs_use_the_image_account_and_wallet_the_overlay_defines(overlay: str) -> None:
    settings = settings_map(overlay)
    pod = pod_template(one(overlay, "Deployment", "kafka-ml-federated-backend"))["spec"]
    platform_repository, platform_tag = image_parts(pod["containers"][0]["image"])
    job_repository, job_tag = image_parts(settings["JOB_IMAGE"])
    assert job_tag == platform_tag and job_repository.removesuffix("kafka-ml/worker") == \
        platform_repository.removesuffix(PLATFORM_IMAGE)
    account = one(overlay, "ServiceAccount", settings["JOB_SERVICE_ACCOUNT"])
    assert account["automountServiceAccountToken"] is False
    bound = {s["name"] for binding in objects(overlay, "RoleBinding") for s in binding["subjects"]}
    assert bound == {pod["serviceAccountName"]} == {CLIENT_API_ACCOUNT}
    wallet = one(overlay, "Secret", settings["CLIENT_WALLET_SECRET"])
    assert wallet["metadata"]["name"] == settings["CLIENT_WALLET_SECRET"], "no hash: the launcher names it"
    assert set(wallet["data"]) == {settings["CLIENT_WALLET_SECRET_KEY"]}
    security = PodSecurity()
    assert _dockerfile_user("services.Dockerfile") == (pod["securityContext"]["runAsUser"],
                                                       pod["securityContext"]["runAsGroup"])
    spec = JobSpec(name="trainer-1", role=Role.TRAINER, owner="federated-backend", training="m1",
                   image=settings["JOB_IMAGE"], module="training_worker.trainer",
                   environment={"KML_CLOUD_BOOTSTRAP_SERVERS": settings["KML_CLOUD_BOOTSTRAP_SERVERS"]},
                   secret_files={"ETH_WALLET_KEY": SecretFile(settings["CLIENT_WALLET_SECRET"],
                                                              settings["CLIENT_WALLET_SECRET_KEY"],
                                                              "/var/run/kafka-ml/wallet/key")},
                   service_account=settings["JOB_SERVICE_ACCOUNT"])
    job = job_manifest(spec, "kafka-ml-vehicle-1", security)
    assert kubernetes_validate.validate(job, "1.32", strict=True) == "1.32"


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_client_role_allows_what_the_launcher_does_and_nothing_more(overlay: str) -> None:
    recorder = _Recorder()
    launcher = KubernetesLauncher(api=KubernetesApi(batch=recorder, core=recorder), namespace="kafka-ml-vehicle-1")
    spec = JobSpec(name="trainer-1", role=Role.TRAINER, owner="federated-backend", training="m1",
                   image="kafka-ml/worker:0.1.0", module="training_worker.trainer", service_account="kafka-ml-jobs")
    launcher.launch(spec)
    launcher.status({LABEL_JOB: "trainer-1"})
    launcher.logs({LABEL_JOB: "trainer-1"})
    launcher.stop({LABEL_JOB: "trainer-1"})
    needed = set()
    for method in recorder.calls:
        verb, _, rest = method.partition("_namespaced_")
        needed.add((*RESOURCES[rest], VERBS[verb]))
    granted = {(group, resource, verb) for rule in one(overlay, "Role", "kafka-ml-client-jobs")["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert needed <= granted, sorted(needed - granted)
    assert {resource for _, resource, _ in granted} == {"jobs", "pods", "pods/log"}, "no Secret, no other resource"
    assert not objects(overlay, "ClusterRole") and not objects(overlay, "ClusterRoleBinding")


# --- NetworkPolicies -------------------------------------------------------------------------

def _policies(overlay: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj["spec"] for obj in objects(overlay, "NetworkPolicy")}


def _pod_labels(overlay: str) -> dict[str, dict[str, str]]:
    """The labels of each kind of pod in the namespace, a trainer Job's (from the launcher) included."""
    labels = {obj["metadata"]["name"]: pod_template(obj)["metadata"]["labels"]
              for obj in render(overlay) if obj["kind"] in {"Deployment", "StatefulSet"}}
    trainer = JobSpec(name="trainer-1", role=Role.TRAINER, owner="federated-backend", training="m1",
                      image="kafka-ml/worker:0.1.0", module="training_worker.trainer")
    labels["trainer"] = job_manifest(trainer, "x", PodSecurity())["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_client_namespace_denies_by_default(overlay: str) -> None:
    policies = _policies(overlay)
    deny = [spec for spec in policies.values() if spec["podSelector"] == {} and not spec.get("ingress")
            and not spec.get("egress") and set(spec["policyTypes"]) == {"Ingress", "Egress"}]
    assert len(deny) == 1, "one policy selecting every pod, both directions, no rule"
    # Nothing from outside: every ingress rule admits pods of this namespace only.
    for name, spec in policies.items():
        for rule in spec.get("ingress", []):
            assert rule.get("from") == [{"podSelector": {}}], f"{name}: ingress from outside the namespace"


@pytest.mark.parametrize("overlay", CLIENT_OVERLAYS)
def test_the_client_namespace_reaches_only_its_services_dns_the_platform_and_the_api_server(overlay: str) -> None:
    policies, settings, pods = _policies(overlay), settings_map(overlay), _pod_labels(overlay)
    assert policies["allow-within-namespace"]["egress"] == [{"to": [{"podSelector": {}}]}]
    assert policies["allow-dns"]["egress"] == [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    # The platform: exactly the ports of the addresses in the settings, for the pods that use them.
    platform = policies["allow-platform"]
    wanted = {int(part.rsplit(":", 1)[1]) for part in settings["KML_CLOUD_BOOTSTRAP_SERVERS"].split(",")}
    wanted.add(urlparse(settings["ETH_RPC_URL"]).port or 80)
    assert {port["port"] for rule in platform["egress"] for port in rule["ports"]} == wanted
    for rule in platform["egress"]:
        for peer in rule["to"]:
            assert "ipBlock" in peer or set(peer["namespaceSelector"]["matchLabels"]) == {"kubernetes.io/metadata.name"}
    users = {name for name, labels in pods.items() if _selects(platform["podSelector"], labels)}
    assert users == {"kafka-ml-federated-backend", "kafka-ml-model-control-logger", "trainer"}
    assert pods["trainer"][LABEL_ROLE] == Role.TRAINER.value
    # The API server: the federated backend alone, one address the overlay set (not the fail-closed default).
    api = policies["allow-kubernetes-api"]
    assert {name for name, labels in pods.items() if _selects(api["podSelector"], labels)} == {
        "kafka-ml-federated-backend"}
    (rule,) = api["egress"]
    (peer,) = rule["to"]
    assert ipaddress.ip_network(peer["ipBlock"]["cidr"]) != ipaddress.ip_network("192.0.2.1/32")
    # Nothing else opens egress.
    assert set(policies) == {"default-deny-all", "allow-within-namespace", "allow-dns", "allow-platform",
                             "allow-kubernetes-api"}


def test_the_client_base_api_server_default_fails_closed() -> None:
    text = (CLIENT_BASE / "networkpolicies.yaml").read_text()
    assert "cidr: 192.0.2.1/32" in text  # TEST-NET-1: routed nowhere until the overlay names the API server


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builder_pods_have_no_network_at_all(overlay: str) -> None:
    builder = JobSpec(name="builder-1", role=Role.BUILDER, owner="platform-backend", training="builder-1",
                      image="kafka-ml/worker:0.1.0", module="kafkaml.builder")
    labels = job_manifest(builder, JOBS_NAMESPACE, PodSecurity())["spec"]["template"]["metadata"]["labels"]
    assert labels[LABEL_PART_OF] == PART_OF
    selecting = {obj["metadata"]["name"]: obj["spec"] for obj in objects(overlay, "NetworkPolicy")
                 if obj["metadata"]["namespace"] == JOBS_NAMESPACE and _selects(obj["spec"]["podSelector"], labels)}
    assert set(selecting) == {"jobs-default-deny-all", "kafka-ml-builder-isolated"}, "no policy opens a path to a builder"
    for spec in selecting.values():
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"} and not spec.get("ingress") and not spec.get("egress")
    spec = selecting["kafka-ml-builder-isolated"]
    aggregator = {**labels, LABEL_ROLE: Role.AGGREGATOR.value}
    assert not _selects(spec["podSelector"], aggregator), "the other jobs keep their network"


# --- the UI ----------------------------------------------------------------------------------

TEMPLATE = ROOT / "docker" / "nginx" / "default.conf.template"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ui_is_wired_as_its_image_expects(overlay: str) -> None:
    pod = pod_template(one(overlay, "Deployment", "kafka-ml-ui"))["spec"]
    (ui,) = pod["containers"]
    assert image_parts(ui["image"])[0].endswith("kafka-ml/ui")
    template = TEMPLATE.read_text()
    variables = set(re.findall(r"\$\{(KAFKAML_[A-Z_]+)\}", template))
    assert {variable["name"] for variable in ui["env"]} == variables, "the template's variables, no other"
    upstream = urlparse(next(v["value"] for v in ui["env"] if v["name"] == "KAFKAML_API_UPSTREAM"))
    backend = one(overlay, "Service", "kafka-ml-backend")
    assert (upstream.hostname, upstream.port) == (backend["metadata"]["name"], backend["spec"]["ports"][0]["port"])
    listen = int(re.search(r"listen (\d+)", template).group(1))
    assert [port["containerPort"] for port in ui["ports"]] == [listen]
    for probe in ("readinessProbe", "livenessProbe"):
        assert ui[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "location = /healthz" in template
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "docker" / "ui.Dockerfile").read_text(), re.M)
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == tuple(map(int, user.groups()))
    writable = {m["mountPath"] for m in ui["volumeMounts"]}
    assert writable == {"/etc/nginx/conf.d", "/tmp"}, "where envsubst and nginx write; the rest is read-only"
    # The Ingress: /api/ to the backend, everything else to the UI.
    paths = {p["path"]: p["backend"]["service"]["name"]
             for rule in one(overlay, "Ingress", "kafka-ml-backend")["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {"/api/": "kafka-ml-backend", "/": "kafka-ml-ui"}


# --- kafkaml k8s client-overlay ----------------------------------------------------------------

def test_the_example_overlay_is_what_the_command_writes() -> None:
    directory = CLIENT_OVERLAYS_DIR / EXAMPLE
    written = files(ClientOverlay(**EXAMPLE_ARGS), directory)
    committed = {str(path.relative_to(directory)) for path in directory.rglob("*")
                 if path.is_file() and (path.name.endswith(".example") or "/secrets/" not in str(path))}
    assert committed == set(written)
    for name, text in written.items():
        assert (directory / name).read_text() == text, f"{name} differs from `kafkaml k8s client-overlay`'s"


@pytest.mark.parametrize("where", ["namespace", "cidr"])
def test_the_command_writes_an_overlay_that_builds_and_validates(where: str, capsys: pytest.CaptureFixture) -> None:
    out = _rendered_tree() / "federated-client" / "overlays" / f"vehicle-{where}"
    shutil.rmtree(out, ignore_errors=True)
    extra = ["--platform-cidr", "10.20.0.0/16"] if where == "cidr" else ["--platform-namespace", "fl-platform"]
    argv = ["k8s", "client-overlay", f"vehicle-{where}", "--platform-kafka", "kafka-0.example:9094,kafka-1.example:9094",
            "--rpc-url", "https://chain.example:8443", "--chain-id", "7", "--api-server-cidr", "10.0.0.1/32",
            "--site-policy", "approval", "--out", str(out), *extra]
    assert kafkaml_main(argv) == 0
    assert kafkaml_main(argv) == 2 and "exist already" in capsys.readouterr().err  # never overwrites silently
    for example in out.rglob("*.example"):
        shutil.copyfile(example, example.with_suffix(""))
    rendered = render_directory(out)
    for obj in rendered:
        assert kubernetes_validate.validate(obj, "1.32", strict=True) == "1.32", obj["metadata"]["name"]
    assert {obj["metadata"].get("namespace") for obj in rendered if obj["kind"] != "Namespace"} == {
        f"kafka-ml-vehicle-{where}"}
    settings = next(obj for obj in rendered if obj["metadata"]["name"].startswith("kafka-ml-client-settings-"))["data"]
    assert settings["FEDERATED_CLIENT_ID"] == f"vehicle-{where}" and settings["SITE_POLICY"] == "approval"
    assert settings["JOB_IMAGE"] == "kafka-ml/worker:0.1.0"
    platform = next(obj for obj in rendered if obj["metadata"]["name"] == "allow-platform")["spec"]["egress"]
    ports = {port["port"] for rule in platform for port in rule["ports"]}
    assert ports == {9094, 8443}
    peers = [peer for rule in platform for peer in rule["to"]]
    if where == "cidr":
        assert peers == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    else:
        assert {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in peers} == {
            "fl-platform"}


@pytest.mark.parametrize("bad", [["Vehicle_1"], ["v", "--api-server-cidr", "nope"], ["v", "--platform-kafka", "kafka"],
                                 ["v", "--wallet-address", "0x12"]])
def test_the_command_refuses_bad_input_with_one_line(bad: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    options = {"--platform-kafka": "k:9092", "--rpc-url": "http://g:8545", "--chain-id": "1",
               "--api-server-cidr": "10.0.0.1/32"}
    name, given = bad[0], dict(zip(bad[1::2], bad[2::2], strict=True))
    argv = ["k8s", "client-overlay", name, *[part for key, value in {**options, **given}.items()
                                             for part in (key, value)], "--out", str(tmp_path / "o")]
    assert kafkaml_main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "o").exists()
