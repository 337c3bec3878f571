"""The single-host platform's file (compose.yaml, docs/deploy-compose.md) as podman-compose reads
it: every service gets the settings the manifests give its pod (checked against the rendered dev
overlay), and compose.jobs.yaml alone mounts the engine's socket. The platform brought up with
podman-compose from these files is checked in test_compose_live.py.

Run here with podman-compose 1.6.0 on podman 4.3 (rootful). podman before 4.6 cannot wait for a
container's health (podman-compose skips that condition with a warning), and podman 4.3 fails to
start a container whose dependency has dependencies of its own; compose.yaml therefore keeps its
dependencies one level deep and its one-shot services try again while what they need starts.
Docker's `docker compose` is not installed here: it has not run this file."""

from __future__ import annotations

from typing import Any

import pytest

from tests.containers import infra
from tests.containers.infra import COMPOSE, JOBS, compose, config
from tests.unit.test_manifests import backend, backend_settings, containers, environment, one, pod_template

pytestmark = [pytest.mark.slow]

#: The backend's settings that only the Kubernetes launcher reads, and the Docker launcher's own.
KUBERNETES_ONLY = {"POD_NAMESPACE", "JOB_NAMESPACE", "JOB_SERVICE_ACCOUNT"}
DOCKER_ONLY = {"JOB_NETWORK"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return config({"KAFKAML_COMPOSE_DIR": "/srv/kafka-ml"})


#: compose's secret names are the manifests' Secret keys, but for the Secret named by its key alone.
SECRET_NAMES = {"url": "database-url"}


def test_every_service_runs_restricted_as_the_pods_do(rendered: dict[str, Any]) -> None:
    for name, service in rendered["services"].items():
        infra.assert_restricted(name, service)
    published = {name: service["ports"] for name, service in rendered["services"].items() if service.get("ports")}
    assert list(published) == ["ui"] and all(str(port).startswith("127.0.0.1:") for port in published["ui"])


def test_the_platform_services_get_the_manifests_users_images_settings_and_secret_files(
        rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    pod, main = backend("dev")
    uid = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    declared = backend_settings()
    manifests = {container["name"]: container for container in containers(pod)}
    # backend-init runs the two init containers one after the other, with the mounts of both.
    for name, mounted in (("backend-init", ("migrate", "logger-token")), ("backend", ("backend",))):
        service = services[name]
        assert service["user"] == uid, name
        assert service["image"].endswith("/" + main["image"]), f"{name}: {service['image']} for {main['image']}"
        names = set(service["environment"])
        for container in mounted:
            expected = set(environment("dev", manifests[container])) - KUBERNETES_ONLY | DOCKER_ONLY
            assert names == expected, f"{name}: {sorted(names ^ expected)}"
        assert names <= set(declared), sorted(names - set(declared))
        for setting in declared.values():  # every value parses as at start-up
            setting.read({key: str(value) for key, value in service["environment"].items()})
        assert service["environment"]["JOB_LAUNCHER"] == "docker"
        assert service["environment"]["JOB_NETWORK"] == rendered["networks"]["default"]["name"]
        expected_files = {path: SECRET_NAMES.get(key, key) for container in mounted
                          for path, key in infra.secret_mounts(pod, manifests[container]).items()}
        assert infra.compose_secrets(service) == expected_files, name
        assert any(volume.endswith(":" + service["environment"]["BACKEND_STORAGE_DIR"])
                   for volume in service["volumes"]), name
    # The init containers' commands in their order, then the server's arguments.
    init = " ".join(services["backend-init"]["command"])
    migrate, token = init.index("python -m backend migrate --noinput"), init.index(" ".join(manifests["logger-token"]["command"]))
    assert manifests["migrate"]["command"] == ["python", "-m", "backend", "migrate", "--noinput"] and migrate < token
    assert services["backend"]["command"] == main["args"]
    # Migrations first: the server waits for the init service to have finished successfully.
    assert services["backend"]["depends_on"]["backend-init"]["condition"] == "service_completed_successfully"
    # podman 4.3 cannot start a container whose dependency has stopped and has dependencies of its
    # own (see the module's text): a one-shot service depends on nothing.
    for name, service in services.items():
        if service.get("restart") == "no":
            assert not service.get("depends_on"), f"{name}, a one-shot service, depends on {service['depends_on']}"


def test_the_logger_and_the_ui_get_the_manifests_settings(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    logger_pod = pod_template(one("dev", "Deployment", "kafka-ml-data-control-logger"))["spec"]
    (logger,) = logger_pod["containers"]
    assert set(services["data-control-logger"]["environment"]) == {variable["name"] for variable in logger["env"]}
    assert services["data-control-logger"]["command"] == logger["args"]
    assert infra.compose_secrets(services["data-control-logger"]) == {
        path: SECRET_NAMES.get(key, key) for path, key in infra.secret_mounts(logger_pod, logger).items()}
    registry = services["data-control-logger"]["environment"]["REGISTRY_URL"]
    allowed = services["backend"]["environment"]["BACKEND_ALLOWED_HOSTS"].split(",")
    assert registry.split("/")[2].split(":")[0] in allowed and registry.split("/")[2].split(":")[0] == "backend"
    ui_pod = pod_template(one("dev", "Deployment", "kafka-ml-ui"))["spec"]
    (ui,) = ui_pod["containers"]
    assert set(services["ui"]["environment"]) == {variable["name"] for variable in ui["env"]}
    assert services["ui"]["environment"]["KAFKAML_API_UPSTREAM"] == "http://backend:8000"
    assert services["ui"]["user"] == f"{ui_pod['securityContext']['runAsUser']}:{ui_pod['securityContext']['runAsGroup']}"
    writable = {mount["mountPath"] for mount in ui["volumeMounts"]}
    assert {mount.split(":")[0] for mount in services["ui"]["tmpfs"]} | {
        volume.split(":")[1] for volume in services["ui"]["volumes"]} == writable


def test_the_engine_socket_is_mounted_only_by_the_jobs_file(rendered: dict[str, Any]) -> None:
    for name, service in rendered["services"].items():
        assert not any("sock" in volume for volume in service.get("volumes", [])), name
        assert "DOCKER_HOST" not in (service.get("environment") or {}), name
    env = {"KAFKAML_COMPOSE_DIR": "/srv/kafka-ml", "KAFKAML_ENGINE_SOCKET": "/var/run/docker.sock",
           "KAFKAML_ENGINE_GID": "998"}
    with_jobs = config(env, (COMPOSE, JOBS))["services"]
    backend_service = with_jobs["backend"]
    assert "/var/run/docker.sock:/run/kafka-ml/engine.sock" in backend_service["volumes"]
    assert backend_service["environment"]["DOCKER_HOST"] == "unix:///run/kafka-ml/engine.sock"
    # The jobs' secret files: at the same path inside as on the host, under the run directory.
    run_dir = backend_service["environment"]["KAFKAML_RUN_DIR"]
    assert f"{run_dir}:{run_dir}" in backend_service["volumes"] and run_dir.startswith("/srv/kafka-ml/")
    assert [str(group) for group in backend_service["group_add"]] == ["998"]
    assert backend_service["environment"]["JOB_LAUNCHER"] == "docker"
    others = {name: service for name, service in with_jobs.items() if name != "backend"}
    assert all(not any("sock" in volume for volume in service.get("volumes", [])) for service in others.values())
    # Without its variables the jobs file refuses to render rather than mount a wrong path.
    refused = compose("config", env={"KAFKAML_COMPOSE_DIR": "/srv/kafka-ml"}, files=(COMPOSE, JOBS), check=False)
    assert refused.returncode != 0 and "KAFKAML_ENGINE" in refused.stdout + refused.stderr
