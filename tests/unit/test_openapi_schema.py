"""The committed OpenAPI schemas (the UI's client is generated from the platform's) must be what
the code generates, and valid. Regenerate with `make schema`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["backend", "federated_backend"])
def test_the_committed_schema_is_what_the_code_generates(service: str, tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_SECRET_KEY": "schema-only", "KAFKAML_RUN_DIR": str(tmp_path)}
    generated = tmp_path / "openapi.yaml"
    subprocess.run([sys.executable, "-m", service, "spectacular", "--validate", "--fail-on-warn", "--file",
                    str(generated)], env=env, check=True, capture_output=True, cwd=ROOT, timeout=120)
    assert generated.read_text() == (ROOT / service / "openapi.yaml").read_text(), (
        f"{service}/openapi.yaml is stale: run `make schema`")
