"""Compile the contracts reproducibly and keep their committed artifacts in step with the sources.

Why it looks like this:

* **Pinned compiler, no download.** solc 0.8.37 comes from the npm package ``solc`` (the
  emscripten build, run by Node) that ``make setup`` installs from ``package-lock.json``. The
  native binary py-solc-x manages is used instead when one of exactly this version is already
  installed (it is faster); py-solc-x never downloads here, because a build must not depend on a
  network fetch at run time and the two compilers emit identical bytecode for one version.
* **Standard-JSON input with every source inlined.** We resolve the imports ourselves (our
  ``contracts/`` files and OpenZeppelin's from ``node_modules``) and pass their contents, so the
  compiler needs no file-system callback, and the very same input is what Blockscout receives
  to verify a deployed contract. It is committed beside the artifacts for that reason: a
  verification must not depend on Node being installed where ``kafkaml audit`` runs.
* **Staleness by hashes.** Each artifact records the SHA-256 of every source it was built from;
  :func:`stale_sources` recomputes them so a test fails when someone edits a ``.sol`` file and
  forgets ``make setup``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
NODE_MODULES = ROOT / "node_modules"
STANDARD_INPUT_FILE = ARTIFACTS_DIR / "standard-input.json"

SOLC_VERSION = "0.8.37"
CONTRACTS = {
    "FederatedLearning": "contracts/FederatedLearning.sol",
    "RewardToken": "contracts/RewardToken.sol",
    "TrainingFactory": "contracts/TrainingFactory.sol",
}
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": True,
    # Prague is what current Geth and Anvil run; pinning it keeps the bytecode the same when the
    # compiler's own default moves on.
    "evmVersion": "prague",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']\s*;""", re.MULTILINE)


class BuildError(RuntimeError):
    """The contracts cannot be compiled; the message carries the compiler's own errors."""


def source_path(unit: str) -> Path:
    """The file behind a source unit name (``contracts/...`` or ``@openzeppelin/...``)."""
    if unit.startswith("@"):
        return NODE_MODULES / unit
    return ROOT / unit


def collect_sources(units: list[str] | None = None) -> dict[str, str]:
    """Every source unit reachable from ``units`` (default: our contracts) → its text."""
    pending = list(units or CONTRACTS.values())
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        path = source_path(unit)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise BuildError(f"{unit}: {path} does not exist (run 'make setup' for node_modules)") from None
        sources[unit] = text
        for imported in _IMPORT.findall(text):
            if imported.startswith("."):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(unit), imported))
            pending.append(imported)
    return dict(sorted(sources.items()))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def standard_input(sources: dict[str, str] | None = None) -> dict[str, Any]:
    """The compiler's standard-JSON input: settings plus every source's content."""
    sources = collect_sources() if sources is None else sources
    return {
        "language": "Solidity",
        "sources": {u: {"content": t} for u, t in sources.items()},
        "settings": SETTINGS,
    }


def compile_standard(input_json: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Compile with the pinned solc; returns (standard-JSON output, full compiler version)."""
    native = _native_solc()
    if native is None:
        return _compile_with_solcjs(input_json)
    result = subprocess.run(
        [str(native), "--standard-json"],
        input=json.dumps(input_json),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    version = subprocess.run([str(native), "--version"], capture_output=True, text=True, check=True).stdout
    return json.loads(result.stdout), version.strip().splitlines()[-1].removeprefix("Version: ")


def _native_solc() -> Path | None:
    """A native solc of exactly :data:`SOLC_VERSION` that py-solc-x has installed, if any."""
    # Imported here: every blockchain job loads the artifacts through this module, and py-solc-x
    # with its dependencies cost each job's start 16 ms of processor time for nothing.
    import solcx

    try:
        for version in solcx.get_installed_solc_versions():
            if str(version) == SOLC_VERSION:
                return Path(solcx.install.get_executable(version))
    except (OSError, solcx.exceptions.SolcNotInstalled):
        return None
    return None


_SOLCJS_SCRIPT = """
const solc = require(process.argv[1]);
const input = require('fs').readFileSync(0, 'utf8');
process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));
"""


def _compile_with_solcjs(input_json: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = shutil.which("node")
    package = NODE_MODULES / "solc"
    if node is None or not package.is_dir():
        raise BuildError(
            "neither a native solc 0.8.37 (py-solc-x) nor node + node_modules/solc is available; "
            "run 'make setup'"
        )
    result = subprocess.run(
        [node, "-e", _SOLCJS_SCRIPT, str(package)],
        input=json.dumps(input_json),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"solc-js failed: {result.stderr.strip()[-2000:]}")
    answer = json.loads(result.stdout)
    if not answer["version"].startswith(SOLC_VERSION + "+"):
        raise BuildError(
            f"node_modules/solc is {answer['version']}, expected {SOLC_VERSION}; run 'make setup'"
        )
    return answer["output"], answer["version"]


def build(artifacts_dir: Path = ARTIFACTS_DIR) -> dict[str, dict[str, Any]]:
    """Compile every contract and write ``<Name>.json`` plus the standard input; returns the artifacts."""
    sources = collect_sources()
    input_json = standard_input(sources)
    output, version = compile_standard(input_json)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    hashes = {unit: sha256_text(text) for unit, text in sources.items()}
    artifacts = {}
    for name, unit in CONTRACTS.items():
        compiled = output["contracts"][unit][name]
        artifacts[name] = {
            "contractName": name,
            "sourceName": unit,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            "compiler": {"name": "solc", "version": version},
            "settings": SETTINGS,
            "sources": hashes,
        }
        _write_json(artifacts_dir / f"{name}.json", artifacts[name])
    _write_json(artifacts_dir / STANDARD_INPUT_FILE.name, input_json)
    return artifacts


def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> dict[str, Any]:
    path = artifacts_dir / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"{path} is missing: run 'make setup' (it builds the contracts)") from None


def load_standard_input(artifacts_dir: Path = ARTIFACTS_DIR) -> dict[str, Any]:
    return json.loads((artifacts_dir / STANDARD_INPUT_FILE.name).read_text())


def stale_sources(artifacts_dir: Path = ARTIFACTS_DIR) -> list[str]:
    """Source units whose text (or presence) differs from what the artifacts were built from."""
    current = {unit: sha256_text(text) for unit, text in collect_sources().items()}
    stale = set()
    for name in CONTRACTS:
        artifact = load_artifact(name, artifacts_dir)
        recorded = artifact["sources"]
        stale |= {u for u in current.keys() | recorded.keys() if current.get(u) != recorded.get(u)}
        if artifact["settings"] != SETTINGS:
            stale.add(f"(settings of {name})")
    return sorted(stale)


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    temporary.replace(path)
