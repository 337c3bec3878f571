"""Fuzzing the live backend with its own OpenAPI schema (issue 11, "Bad input"): whatever a client
sends, the answer is never a 5xx and is one the schema documents (status code, content type, body).

Schemathesis loads ``/api/schema/`` from the running service and, per operation, sends the
schema's examples, its coverage cases (boundaries, missing and wrongly typed fields) and a
bounded number of generated requests, valid and invalid (``tests/backend/fuzzing.py``): about
a minute on two shared cores, the local stack's start included. Every fuzzed case is sent. Once the module's fuzzing is over, whichever of its tests ran, the backend must still
answer its health check and its log must show no 500 and no dead worker since the fuzzing began
(the ``fuzzed_backend`` fixture).

What the fuzzer may not do is kept out of its reach, not trusted to luck:

* ``POST /api/models/`` and ``PATCH /api/models/{id}/`` queue a build of any source that parses
  (a TensorFlow process in the background, seconds each): every fuzzed source is made to fail the
  syntax check first (the build path itself is tested in ``test_api_basics.py`` and
  ``test_model_builds.py``);
* deployments launch trainings and inferences launch workers: the fuzzing user owns no model, no
  configuration and no training result, so every deployment and inference fails validation, and
  no fuzzed request can run a job;
* the job-only endpoints (``/reports/``, ``PUT /model/``, an audit's verdict) and the relay-only
  ones (datasource registration and its progress) get the user's token, no token, or a random
  ``Job`` token: each must be refused with 401/403. The aggregator's payloads are fuzzed too, with
  the real token of a dormant training result (rows only, no job behind it);
* the relay pass fuzzes the datasource registration and its progress with the platform data
  control logger's relay token (a relay may do nothing else, which test_tokens.py checks).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.backend.conftest import Backend
from tests.backend.fuzzing import FUZZ_SETTINGS, call_and_validate, load, refused_without_credentials

RESULT_JOB_ONLY = {("POST", "/api/results/{id}/reports/"), ("PUT", "/api/results/{id}/model/")}
JOB_ONLY = RESULT_JOB_ONLY | {("POST", "/api/results/{id}/audits/{audit_id}/")}
RELAY_ONLY = {("POST", "/api/datasources/register/"), ("GET", "/api/datasources/register/progress/")}


def _names(operations: set[tuple[str, str]]) -> list[str]:
    """Schemathesis' labels of these operations."""
    return sorted(f"{method} {path}" for method, path in operations)


BUILDS = {("POST", "/api/models/"), ("PATCH", "/api/models/{id}/")}


@pytest.fixture(scope="module")
def fuzzed_backend(backend: Backend) -> Iterator[Backend]:
    """The session's backend, checked once this module's fuzzing is over, whichever of its tests
    ran and in whatever order (every fuzzing test gets the backend through this fixture): it
    still answers its health check, quickly, and while the fuzzing ran no worker died and
    nothing was answered with a 500 (the service logs each one)."""
    log_start = backend.log_path.stat().st_size
    yield backend
    started = time.monotonic()
    assert requests.get(f"{backend.url}/api/health/", timeout=10).json() == {"status": "ok", "database": True}
    assert time.monotonic() - started < 5
    with backend.log_path.open("rb") as log_file:
        log_file.seek(log_start)
        log = log_file.read().decode(errors="replace")
    assert "SIGSEGV" not in log and "WORKER TIMEOUT" not in log
    assert "unexpected error in" not in log and '" 500 ' not in log


@pytest.fixture(scope="module")
def user_schema(fuzzed_backend: Backend) -> OpenApiSchema:
    """As a user who owns nothing: every deployment is refused before anything is launched."""
    token = fuzzed_backend.as_user("fuzz-user").headers["Authorization"]
    return load(fuzzed_backend.url, {"Authorization": token})


@pytest.fixture(scope="module")
def anonymous_schema(fuzzed_backend: Backend) -> OpenApiSchema:
    return load(fuzzed_backend.url)


@pytest.fixture(scope="module")
def relay_schema(fuzzed_backend: Backend) -> OpenApiSchema:
    return load(fuzzed_backend.url, {"Authorization": f"Relay {fuzzed_backend.relay_token}"})


@pytest.fixture(scope="module")
def job_schema(fuzzed_backend: Backend) -> OpenApiSchema:
    """As the job of one (dormant) training result, on that result: its reports and model upload."""
    result_id, token = fuzzed_backend.dormant_result("fuzz-job-owner")
    schema = load(fuzzed_backend.url, {"Authorization": f"Job {token}"})
    schema.config.update(parameters={"id": result_id})
    return schema


def _unbuildable(case: schemathesis.Case) -> None:
    """Make a fuzzed model source fail ``ast.parse`` (in the backend: before any build), keeping
    sources that already fail it (NUL bytes, syntax errors) as they are."""
    if (case.method.upper(), case.path) not in BUILDS or not isinstance(case.body, dict):
        return
    source = case.body.get("source")
    if not isinstance(source, str):
        return
    for candidate in (source, source + "\n)", ")" + source):
        try:
            ast.parse(candidate)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            case.body["source"] = candidate
            return
    raise AssertionError(f"no unbuildable variant of {source!r}")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return "\x00" in str(value)


def _job_only(case: schemathesis.Case, response: schemathesis.Response) -> None:
    """A job-only or relay-only endpoint refuses anyone without its job's or relay's token (a 404
    only for a path that names no result at all: an id that is not a number matches no URL)."""
    if (case.method.upper(), case.path) not in JOB_ONLY | RELAY_ONLY:
        return
    # Django's <int:...> matches ASCII digits only: "²" or "١" is a digit to Python, a 404 to the router.
    names_a_result = all(str(value).isascii() and str(value).isdigit() for value in (case.path_parameters or {}).values())
    allowed = (401, 403) if names_a_result else (401, 403, 404)
    if _holds_nul(case.query):  # refused before any view reads it, credentials or not (kafkaml.services.api)
        allowed = (400, *allowed)
    assert response.status_code in allowed, f"{case.method} {case.path} {case.path_parameters}: {response.status_code}"


user = schemathesis.pytest.from_fixture("user_schema")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
job = schemathesis.pytest.from_fixture("job_schema").include(name=_names(RESULT_JOB_ONLY))
relay = schemathesis.pytest.from_fixture("relay_schema").include(name=_names(RELAY_ONLY))


@user.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_a_user_who_owns_nothing(case: schemathesis.Case) -> None:
    _unbuildable(case)
    response = call_and_validate(case)
    _job_only(case, response)


@anonymous.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_credentials(case: schemathesis.Case) -> None:
    _unbuildable(case)
    response = call_and_validate(case)
    refused_without_credentials(case, response)
    _job_only(case, response)


@anonymous.include(name=_names(JOB_ONLY)).parametrize()
@FUZZ_SETTINGS
def test_fuzz_job_endpoints_with_random_job_tokens(case: schemathesis.Case) -> None:
    generated = (case.headers or {}).get("Authorization") or "0"
    case.headers = {**(case.headers or {}), "Authorization": f"Job {generated}"}
    response = call_and_validate(case)
    _job_only(case, response)


@job.parametrize()
@FUZZ_SETTINGS
def test_fuzz_job_endpoints_with_the_results_own_token(case: schemathesis.Case) -> None:
    call_and_validate(case)


@relay.parametrize()
@FUZZ_SETTINGS
def test_fuzz_datasource_registration_as_the_relay(case: schemathesis.Case) -> None:
    call_and_validate(case)

