"""The backend's exception handler maps failures of what it depends on to clear answers, never a
500: here, a job launcher whose API refuses or is unreachable (Kubernetes) is a 503."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = """
import json, django
django.setup()
from kafkaml.django_api import exception_handler
from kafkaml.jobs import JobError
answer = exception_handler(JobError("the Kubernetes API answered 500 Internal Server Error"), {"view": None})
print(json.dumps([answer.status_code, str(answer.data["detail"])]))
"""


def test_a_failing_job_launcher_is_a_503(tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_SECRET_KEY": "unit", "KAFKAML_RUN_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "backend.settings"}
    done = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=True)
    status, detail = json.loads(done.stdout.splitlines()[-1])
    assert status == 503 and "Kubernetes API answered 500" in detail
