"""backend/openapi.yaml is the committed OpenAPI schema (the UI's client is generated from it):
it must be what the code generates, and valid. Regenerate with `make schema`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_what_the_code_generates(tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_SECRET_KEY": "schema-only", "KAFKAML_RUN_DIR": str(tmp_path)}
    generated = tmp_path / "openapi.yaml"
    subprocess.run([sys.executable, "-m", "backend", "spectacular", "--validate", "--fail-on-warn", "--file",
                    str(generated)], env=env, check=True, capture_output=True, cwd=ROOT, timeout=120)
    assert generated.read_text() == (ROOT / "backend" / "openapi.yaml").read_text(), (
        "backend/openapi.yaml is stale: run `make schema`")
