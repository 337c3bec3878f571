"""The backend serves the built web UI in local mode: files as they are (hashed assets cached for
good), the app's index for every other path outside /api/ (a reload of /trainings/7 works), and
nothing outside the build directory."""

from __future__ import annotations

import pytest
import requests

from kafkaml.local.platform import UI_BUILD
from tests.backend.conftest import Backend


@pytest.fixture(autouse=True)
def built_ui() -> None:
    assert (UI_BUILD / "index.html").is_file(), "the web UI is not built: run make setup"


def test_the_app_and_its_assets_are_served(backend: Backend) -> None:
    index = (UI_BUILD / "index.html").read_text()
    for path in ("/", "/trainings/7", "/models/new"):
        answer = requests.get(f"{backend.url}{path}", timeout=10)
        assert answer.status_code == 200 and answer.text == index, path
        assert answer.headers["Cache-Control"] == "no-cache"
    asset = next((UI_BUILD / "assets").glob("index-*.js"))
    answer = requests.get(f"{backend.url}/assets/{asset.name}", timeout=10)
    assert answer.status_code == 200 and answer.content == asset.read_bytes()
    assert "immutable" in answer.headers["Cache-Control"]


def test_the_api_and_files_outside_the_build_are_not_the_app(backend: Backend) -> None:
    missing = requests.get(f"{backend.url}/api/no-such-endpoint/", timeout=10)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("application/json")
    for path in ("/..%2f..%2fpyproject.toml", "/assets/..%2f..%2f..%2fpyproject.toml", "/%2e%2e/%2e%2e/Makefile"):
        answer = requests.get(f"{backend.url}{path}", timeout=10)
        assert "[project]" not in answer.text and "PYTHON ?=" not in answer.text, path
