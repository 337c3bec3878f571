"""The web UI's own checks, in the one test command: its typed API client and the form limits
generated from the backend's committed OpenAPI schema match it (regenerated and compared: a
changed endpoint or limit fails here until `npm run gen:api` is run), it type-checks, and its
component tests (Vitest) pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
GENERATED = FRONTEND / "src" / "api" / "schema.d.ts"
LIMITS = FRONTEND / "src" / "api" / "limits.ts"


@pytest.fixture(autouse=True)
def installed_ui() -> None:
    assert (FRONTEND / "node_modules" / ".bin" / "vitest").exists() and shutil.which("node"), (
        "the UI's npm packages are not installed: run make setup")


def _npx(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npx", "--no-install", *args], cwd=FRONTEND, capture_output=True, text=True, timeout=timeout)


def test_the_generated_api_types_match_the_committed_schema(tmp_path: Path) -> None:
    fresh = tmp_path / "schema.d.ts"
    done = _npx("openapi-typescript", "../backend/openapi.yaml", "-o", str(fresh))
    assert done.returncode == 0, done.stderr
    assert fresh.read_text() == GENERATED.read_text(), (
        "frontend/src/api/schema.d.ts is stale: run `npm run gen:api` in frontend/ after `make schema`")


def test_the_generated_form_limits_match_the_committed_schema(tmp_path: Path) -> None:
    fresh = tmp_path / "limits.ts"
    done = subprocess.run(["node", "scripts/gen-limits.mjs", str(fresh)], cwd=FRONTEND, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert fresh.read_text() == LIMITS.read_text(), (
        "frontend/src/api/limits.ts is stale: run `npm run gen:api` in frontend/ after `make schema`")


def test_the_ui_type_checks() -> None:
    done = _npx("tsc", "--noEmit")
    assert done.returncode == 0, done.stdout[-4000:]


def test_the_component_tests_pass() -> None:
    done = _npx("vitest", "run", "--reporter=dot", timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
