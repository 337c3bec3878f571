"""The services' web defences on the live backend: a Content-Security-Policy on every answer, the
API docs page with its assets served by the service itself (no CDN), CSRF on signing in, sign-in
throttled per user name and per client address, and production mode (``BACKEND_PRODUCTION``:
Secure cookies, HSTS behind a TLS proxy, no API docs unless asked for)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urljoin

import pytest
import requests

from kafkaml import processes
from kafkaml.local.platform import UI_BUILD
from kafkaml.services.settings import API_CONTENT_SECURITY_POLICY, UI_CONTENT_SECURITY_POLICY
from tests.backend.conftest import Backend
from tests.conftest import unique

PER_ADDRESS, PER_USER = 5, 3
WRONG = 403  # what the token endpoint answers a wrong password (it takes no credentials to challenge)


@pytest.fixture(scope="module")
def production(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A second backend on the session's database, in production mode behind one proxy, with low
    sign-in limits (its throttle counts are its own: they live in its own storage directory)."""
    run_dir = tmp_path_factory.mktemp("production")
    port = processes.free_port()
    env = {**backend.env, "BACKEND_PRODUCTION": "true", "BACKEND_TRUSTED_PROXIES": "1",
           "BACKEND_SIGN_IN_RATE_PER_ADDRESS": f"{PER_ADDRESS}/minute",
           "BACKEND_SIGN_IN_RATE_PER_USER": f"{PER_USER}/minute", "BACKEND_STORAGE_DIR": str(run_dir / "files")}
    running = replace(backend, url=f"http://127.0.0.1:{port}", run_dir=run_dir, env=env,
                      log_path=run_dir / "backend.log", pid=0, sessions={})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_every_answer_carries_a_content_security_policy(backend: Backend) -> None:
    health = requests.get(f"{backend.url}/api/health/", timeout=10)
    assert health.headers["Content-Security-Policy"] == API_CONTENT_SECURITY_POLICY
    missing = requests.get(f"{backend.url}/api/no-such-thing/", timeout=10)
    assert missing.status_code == 404 and missing.headers["Content-Security-Policy"] == API_CONTENT_SECURITY_POLICY
    too_large = requests.post(f"{backend.url}/api/auth/token/", data=b"x" * (9 * 1024 * 1024), timeout=30)
    assert too_large.status_code == 413 and "Content-Security-Policy" in too_large.headers
    assert (UI_BUILD / "index.html").is_file(), "the web UI is not built: run make setup"
    for path in ("/", "/trainings/7"):
        page = requests.get(f"{backend.url}{path}", timeout=10)
        assert page.headers["Content-Security-Policy"] == UI_CONTENT_SECURITY_POLICY, path
        assert "<script>" not in page.text, "no inline script: the policy would block it"


def test_the_api_docs_page_loads_only_what_the_service_serves(backend: Backend) -> None:
    page = requests.get(f"{backend.url}/api/docs/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Security-Policy"] == UI_CONTENT_SECURITY_POLICY
    assert not re.search(r"<script>", page.text), "the split view: the page's script is a file"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 4, assets  # the CSS, the favicon, the two bundles, the init script
    for asset in assets:
        url = urljoin(f"{backend.url}/api/docs/", asset.replace("&amp;", "&"))
        assert url.startswith(f"{backend.url}/api/docs/"), f"{asset}: not from the service itself"
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    schema = requests.get(f"{backend.url}/api/schema/", headers={"Accept": "application/json"}, timeout=30)
    assert schema.json()["openapi"].startswith("3.")
    outside = requests.get(f"{backend.url}/api/docs/assets/drf_spectacular_sidecar/redoc/LICENSE", timeout=10)
    assert outside.status_code == 404, "only the Swagger UI files"


def test_signing_in_to_a_session_needs_the_csrf_token(backend: Backend) -> None:
    backend.as_user("csrf-user")  # created with the password "<name>-password-1"
    credentials = {"username": "csrf-user", "password": "csrf-user-password-1"}
    forged = requests.post(f"{backend.url}/api/auth/login/", json=credentials, timeout=10)
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    assert "sessionid" not in forged.cookies
    browser = requests.Session()
    token = browser.get(f"{backend.url}/api/auth/csrf/", timeout=10).json()["csrf_token"]
    signed_in = browser.post(f"{backend.url}/api/auth/login/", json=credentials, headers={"X-CSRFToken": token},
                             timeout=10)
    assert signed_in.status_code == 200 and signed_in.json()["username"] == "csrf-user"
    assert browser.get(f"{backend.url}/api/auth/me/", timeout=10).json()["username"] == "csrf-user"


def test_sign_in_is_throttled_per_user_name(backend: Backend) -> None:
    """The session's backend keeps the default per-user limit (10 a minute)."""
    victim, other = unique("victim"), unique("other")
    answers = [requests.post(f"{backend.url}/api/auth/token/", json={"username": victim, "password": f"guess-{i}"},
                             timeout=10) for i in range(11)]
    assert [a.status_code for a in answers] == [WRONG] * 10 + [429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    again = requests.post(f"{backend.url}/api/auth/login/", json={"username": victim.upper(), "password": "x"},
                          timeout=10)
    assert again.status_code == 429, "the same user name, whatever its case and whichever endpoint"
    assert requests.post(f"{backend.url}/api/auth/token/", json={"username": other, "password": "x"},
                         timeout=10).status_code == WRONG


def test_sign_in_is_throttled_per_client_address_behind_a_proxy(production: Backend) -> None:
    """The proxy appends the client's address to X-Forwarded-For: what a client wrote before it
    cannot make it another client."""
    def attempt(forwarded_for: str) -> int:
        return requests.post(f"{production.url}/api/auth/token/", json={"username": unique("u"), "password": "x"},
                             headers={"X-Forwarded-For": forwarded_for}, timeout=10).status_code

    assert [attempt(f"198.51.100.{i}, 203.0.113.7") for i in range(PER_ADDRESS)] == [WRONG] * PER_ADDRESS
    assert attempt("198.51.100.99, 203.0.113.7") == 429, "a forged first hop is not another client"
    assert attempt("203.0.113.8") == WRONG, "another client"


def test_production_mode_secure_cookies_hsts_and_no_docs(production: Backend) -> None:
    host = production.url.removeprefix("http://")
    through_tls = {"X-Forwarded-Proto": "https"}
    for path in ("/api/docs/", "/api/schema/", "/api/docs/assets/drf_spectacular_sidecar/swagger-ui-dist/LICENSE"):
        assert requests.get(f"{production.url}{path}", timeout=10).status_code == 404, path
    csrf = requests.get(f"{production.url}/api/auth/csrf/", headers=through_tls, timeout=10)
    assert csrf.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert re.search(r"csrftoken=[^;]+;.*\bSecure\b", csrf.headers["Set-Cookie"]), csrf.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in requests.get(f"{production.url}/api/health/", timeout=10).headers
    production.as_user("production-user")
    signed_in = requests.post(f"{production.url}/api/auth/login/",
                              json={"username": "production-user", "password": "production-user-password-1"},
                              headers={**through_tls, "Origin": f"https://{host}",
                                       "X-CSRFToken": csrf.json()["csrf_token"],
                                       "Cookie": f"csrftoken={csrf.cookies['csrftoken']}"}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    assert re.search(r"sessionid=[^;]+;.*\bSecure\b", signed_in.headers["Set-Cookie"]), signed_in.headers["Set-Cookie"]

