"""The parts around the platform that a cluster provides and the dev overlay runs from public
images (Apache Kafka, Geth, PostgreSQL), made here instead: docker/infra/ (`make infra-images`,
the images compose.yaml runs), built by docker/images.py with podman's layer cache, so only a
changed input builds again."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from tests.containers.pods import ROOT


@cache
def images_module() -> ModuleType:
    """docker/images.py, the `make images` builder (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("kafkaml_images", ROOT / "docker" / "images.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


TAGS: dict[str, str] = images_module().INFRA_TAGS


def build(work: Path) -> dict[str, str]:
    """Builds the three images (the Debian root's image must exist: `make images` made it)."""
    return images_module().build_infra(work)
