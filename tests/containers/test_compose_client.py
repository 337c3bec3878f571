"""A data owner's client on one host (compose.client.yaml, docs/deploy-compose.md): the file as
podman-compose reads it gives every service the settings the client's manifests give its pod
(checked against the rendered example overlay of kustomize/federated-client). Two clients' projects
from this file, joined to the platform's, run a whole blockchain training in
test_compose_live.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.containers import infra
from tests.containers.infra import CLIENT, config
from tests.unit.test_client_manifests import EXAMPLE, client_environment, declared
from tests.unit.test_manifests import containers, one, pod_template

pytestmark = [pytest.mark.slow]

#: The manifests' settings that only the Kubernetes launcher reads, and the Docker launcher's own.
KUBERNETES_ONLY = {"POD_NAMESPACE", "JOB_SERVICE_ACCOUNT"}
DOCKER_ONLY = {"JOB_NETWORK", "DOCKER_HOST"}
ENV = {"KAFKAML_CLIENT_ID": "vehicle-1", "KAFKAML_CLIENT_DIR": "/srv/kafka-ml-vehicle-1",
       "KAFKAML_ENGINE_SOCKET": "/run/kafka-ml-engine.sock", "KAFKAML_ENGINE_GID": "10001"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return config(ENV, (CLIENT,))


def pod(name: str) -> dict[str, Any]:
    return pod_template(one(EXAMPLE, "Deployment", name))["spec"]


def test_every_client_service_runs_restricted_and_publishes_nothing(rendered: dict[str, Any]) -> None:
    for name, service in rendered["services"].items():
        infra.assert_restricted(name, service)
        assert not service.get("ports"), f"{name} publishes {service['ports']}"
    # The platform's network, made by the platform's project: a client joins it, never makes one.
    network = rendered["networks"]["default"]
    assert network["name"] == "kafka-ml" and network["external"] is True, network


def test_the_federated_backend_gets_the_manifests_user_settings_and_secret_files(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    spec = pod("kafka-ml-federated-backend")
    uid = f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}"
    manifests = {container["name"]: container for container in containers(spec)}
    for name, mounted in (("federated-backend-init", ("migrate", "logger-token")),
                          ("federated-backend", ("federated-backend",))):
        service = services[name]
        assert service["user"] == uid, name
        assert service["image"].split("/", 1)[1].startswith("kafka-ml/platform:"), service["image"]
        names = set(service["environment"])
        for container in mounted:
            expected = set(client_environment(EXAMPLE, manifests[container])) - KUBERNETES_ONLY | DOCKER_ONLY
            if name == "federated-backend-init":  # the socket is the server's alone
                expected -= {"DOCKER_HOST"}
            assert names == expected, f"{name}: {sorted(names ^ expected)}"
        settings = declared("federated_backend")
        assert names <= set(settings), sorted(names - set(settings))
        for setting in settings.values():  # every value parses as at start-up
            setting.read({key: str(value) for key, value in service["environment"].items()})
        expected_files = {path: key for container in mounted
                          for path, key in infra.secret_mounts(spec, manifests[container]).items()}
        assert infra.compose_secrets(service) == expected_files, name
        env = service["environment"]
        # The run directory at the same path inside as on the host (the engine mounts from it).
        run_dir = env["KAFKAML_RUN_DIR"]
        assert f"{run_dir}:{run_dir}" in service["volumes"] and run_dir == "/srv/kafka-ml-vehicle-1/data/run"
        assert env["FEDERATED_CLIENT_ID"] == "vehicle-1" and env["JOB_LAUNCHER"] == "docker"
        assert env["JOB_NETWORK"] == rendered["networks"]["default"]["name"]
        assert env["DATA_BOOTSTRAP_SERVERS"] == "vehicle-1-kafka:9092"
        assert "vehicle-1-federated-backend" in env["BACKEND_ALLOWED_HOSTS"].split(",")
    init = " ".join(services["federated-backend-init"]["command"])
    assert init.index(" ".join(manifests["migrate"]["command"])) < init.index(" ".join(manifests["logger-token"]["command"]))
    assert services["federated-backend"]["command"] == manifests["federated-backend"]["args"]
    assert services["federated-backend"]["depends_on"]["federated-backend-init"]["condition"] == \
        "service_completed_successfully"
    # The engine's socket: the server alone, with the socket's group; nothing else of the client.
    server = services["federated-backend"]
    assert "/run/kafka-ml-engine.sock:/run/kafka-ml/engine.sock" in server["volumes"]
    assert server["environment"]["DOCKER_HOST"] == "unix:///run/kafka-ml/engine.sock"
    assert [str(group) for group in server["group_add"]] == ["10001"]
    for name, service in services.items():
        if name != "federated-backend":
            assert not any("sock" in volume for volume in service.get("volumes", [])), name


def test_the_loggers_and_the_broker_get_the_manifests_settings(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    for name in ("data-control-logger", "model-control-logger"):
        spec = pod(f"kafka-ml-{name}")
        (logger,) = spec["containers"]
        service = services[name]
        assert set(service["environment"]) == {variable["name"] for variable in logger["env"]}, name
        assert service["command"] == logger["args"], name
        assert infra.compose_secrets(service) == infra.secret_mounts(spec, logger), name
        assert service["user"] == f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}"
        registry = service["environment"]["REGISTRY_URL"]
        assert registry.startswith("http://vehicle-1-federated-backend:8000/api/"), registry
    assert services["data-control-logger"]["environment"]["DATA_BOOTSTRAP_SERVERS"] == "vehicle-1-kafka:9092"
    broker = services["broker"]
    assert "tcp://vehicle-1-kafka:9092" in broker["command"]
    assert broker["networks"]["default"]["aliases"] == ["vehicle-1-kafka"]


def test_the_client_file_refuses_to_render_without_its_variables() -> None:
    for missing in ENV:
        refused = infra.compose("config", env={key: value for key, value in ENV.items() if key != missing},
                                files=(CLIENT,), check=False)
        assert refused.returncode != 0 and missing in refused.stdout + refused.stderr, missing
