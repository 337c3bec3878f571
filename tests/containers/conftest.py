"""Fixtures of the container tests: the images `make images` builds, the broker, chain and database
images `make infra-images` builds, and namespaces (podman networks and their containers) removed
after each test."""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import infra
from tests.containers.pods import ROOT, Namespace

REPORT = ROOT / "out" / "images" / "report.json"
LOCK = ROOT / "out" / "images" / ".build.lock"


@pytest.fixture(scope="session")
def images() -> dict:
    """`make images`: builds what changed (a cold build takes about 15 minutes), reports sizes. One
    test process at a time (pytest-xdist): the others wait for its build and find it cached."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(["make", "images"], cwd=ROOT, capture_output=True, text=True, timeout=3300)
    assert done.returncode == 0, f"make images failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return json.loads(REPORT.read_text())


@pytest.fixture(scope="session")
def infra_images(images: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`make infra-images` (docker/infra/, on the Debian root `make images` made): their tags by
    name. Once per test process, whichever of its files needs them first (the platform from its
    images, the platform through compose); under the images' lock, so that two processes never
    build the same tag at once."""
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return infra.build(tmp_path_factory.mktemp("infra"))


@pytest.fixture
def namespaces(images: dict, tmp_path: Path) -> Iterator[list[Namespace]]:
    """Namespaces a test creates (append them); their containers and networks go afterwards."""
    created: list[Namespace] = []
    yield created
    for namespace in created:
        namespace.delete()
