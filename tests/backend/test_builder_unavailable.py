"""A platform whose machine cannot create the builder's sandbox refuses model builds with a 503
that names the setting, instead of running the user's code beside its keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import without_user_namespaces

BUILD = """
import django
django.setup()
from backend.api.services.ml_models import check_source
from kafkaml.services.api import Unavailable
from kafkaml.toydata import TOY_MODEL_SOURCE
try:  # what saving a model's source asks before its build is queued
    check_source(TOY_MODEL_SOURCE)
    print("accepted")
except Unavailable as exc:
    print(exc.status_code, exc.detail)
"""


def test_a_build_without_the_sandbox_is_a_503_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", "BACKEND_SECRET_KEY": "test-only",
           "KAFKAML_RUN_DIR": str(tmp_path), "BUILDER_SANDBOX": "required"}
    result = subprocess.run(without_user_namespaces([sys.executable, "-c", BUILD]), env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("503 model builds are refused: BUILDER_SANDBOX=required"), result.stdout


def test_a_wrong_builder_setting_stops_the_backend_at_start(tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_SECRET_KEY": "test-only", "KAFKAML_RUN_DIR": str(tmp_path),
           "BUILDER_SANDBOX": "sometimes"}
    result = subprocess.run([sys.executable, "-m", "backend", "check"], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0 and "BUILDER_SANDBOX='sometimes' must be one of: required, off" in result.stderr
