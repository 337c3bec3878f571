"""Fuzzing the live backend with its own OpenAPI schema (issue 11, "Bad input"): whatever a client
sends, the answer is never a 5xx and is one the schema documents (status code, content type, body).

Schemathesis loads ``/api/schema/`` from the running service and, per operation, sends the
schema's examples, its coverage cases (boundaries, missing and wrongly typed fields) and a
bounded number of generated requests, valid and invalid. Every run is deterministic (derandomized,
no example database, no shrinking), so a failure reproduces and the run's length is bounded: about 4,000 requests,
1.5 minutes on two shared cores, the local stack's start included. Checks: no 5xx, status code
documented, content type documented, body valid against the documented schema, and schema-invalid
input refused with a 4xx. One exception: gunicorn's own 414 for a request line above 4094 bytes,
which never reaches the service.

What the fuzzer may not do is kept out of its reach, not trusted to luck:

* ``POST /api/models/`` and ``PATCH /api/models/{id}/`` run the model builder (a TensorFlow
  subprocess, seconds) on any source that parses: every fuzzed source is made to fail the syntax
  check first (the build path itself is tested in ``test_api_basics.py``);
* deployments launch trainings: the fuzzing user owns no model and no configuration, so every
  deployment fails validation, and no fuzzed request can run a job;
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

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.backend.conftest import Backend

MAX_EXAMPLES = 25
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection"]
JOB_ONLY = {("POST", "/api/results/{id}/reports/"), ("PUT", "/api/results/{id}/model/"),
            ("POST", "/api/results/{id}/audits/{audit_id}/")}
RELAY_ONLY = {("POST", "/api/datasources/register/"), ("GET", "/api/datasources/register/progress/")}
PUBLIC = {"/api/health/", "/api/auth/csrf/", "/api/auth/login/", "/api/auth/token/"}
BUILDS = {("POST", "/api/models/"), ("PATCH", "/api/models/{id}/")}
GUNICORN_REQUEST_LINE = 4094  # gunicorn's limit_request_line default
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


def _load(backend: Backend, headers: dict[str, str] | None = None) -> OpenApiSchema:
    schema = schemathesis.openapi.from_url(f"{backend.url}/api/schema/", headers={"Accept": "application/json"},
                                           timeout=10)
    schema.config.update(base_url=backend.url, headers=headers, request_timeout=30)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True,
                                    database="none")
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    schema.config.checks.update(included_check_names=CHECKS)
    return schema


@pytest.fixture(scope="module")
def user_schema(backend: Backend) -> OpenApiSchema:
    """As a user who owns nothing: every deployment is refused before anything is launched."""
    token = backend.as_user("fuzz-user").headers["Authorization"]
    return _load(backend, {"Authorization": token})


@pytest.fixture(scope="module")
def anonymous_schema(backend: Backend) -> OpenApiSchema:
    return _load(backend)


@pytest.fixture(scope="module")
def relay_schema(backend: Backend) -> OpenApiSchema:
    return _load(backend, {"Authorization": f"Relay {backend.relay_token}"})


@pytest.fixture(scope="module")
def job_schema(backend: Backend) -> OpenApiSchema:
    """As the job of one (dormant) training result, on that result: its reports and model upload."""
    result_id, token = backend.dormant_result("fuzz-job-owner")
    schema = _load(backend, {"Authorization": f"Job {token}"})
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


def _call_and_validate(case: schemathesis.Case) -> schemathesis.Response:
    """Send the case and hold the answer to the schema, except gunicorn's own 414 for a request
    line beyond its limit (4094 bytes): the request never reaches the service."""
    response = case.call()
    if response.status_code == 414:
        target = response.request.path_url  # path?query, as on the request line
        assert len(f"{case.method.upper()} {target} HTTP/1.1") > GUNICORN_REQUEST_LINE, target[:200]
        return response
    case.validate_response(response)
    return response


def _job_only(case: schemathesis.Case, response: schemathesis.Response) -> None:
    """A job-only or relay-only endpoint refuses anyone without its job's or relay's token (a 404
    only for a path that names no result at all: an id that is not a number matches no URL)."""
    if (case.method.upper(), case.path) not in JOB_ONLY | RELAY_ONLY:
        return
    # Django's <int:...> matches ASCII digits only: "²" or "١" is a digit to Python, a 404 to the router.
    names_a_result = all(str(value).isascii() and str(value).isdigit() for value in (case.path_parameters or {}).values())
    allowed = (401, 403) if names_a_result else (401, 403, 404)
    assert response.status_code in allowed, f"{case.method} {case.path} {case.path_parameters}: {response.status_code}"


if not hasattr(pytest.Function, "_nodeid"):
    # schemathesis 4.32.5's lazy loader renames the running item through ``_nodeid``, an attribute
    # pytest 9.2 no longer has (the id became a structured ``NodeId``); reading it as ``nodeid`` and
    # ignoring the renaming only changes how the subtests are labelled, not what runs.
    pytest.Function._nodeid = property(lambda item: item.nodeid, lambda item, value: None)

user = schemathesis.pytest.from_fixture("user_schema")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
job = schemathesis.pytest.from_fixture("job_schema").include(path_regex=r"/(reports|model)/$")
relay = schemathesis.pytest.from_fixture("relay_schema").include(path_regex=r"^/api/datasources/register/")


@user.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_a_user_who_owns_nothing(case: schemathesis.Case) -> None:
    _unbuildable(case)
    response = _call_and_validate(case)
    _job_only(case, response)


@anonymous.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_credentials(case: schemathesis.Case) -> None:
    _unbuildable(case)
    response = _call_and_validate(case)
    if case.path not in PUBLIC:
        assert response.status_code in (400, 401, 403, 404), f"{case.method} {case.path}: {response.status_code}"
    _job_only(case, response)


@anonymous.include(path_regex=r"/(reports|model|audits/{audit_id})/$").parametrize()
@FUZZ_SETTINGS
def test_fuzz_job_endpoints_with_random_job_tokens(case: schemathesis.Case) -> None:
    if (case.method.upper(), case.path) not in JOB_ONLY:
        return
    generated = (case.headers or {}).get("Authorization") or "0"
    case.headers = {**(case.headers or {}), "Authorization": f"Job {generated}"}
    response = _call_and_validate(case)
    _job_only(case, response)


@job.parametrize()
@FUZZ_SETTINGS
def test_fuzz_job_endpoints_with_the_results_own_token(case: schemathesis.Case) -> None:
    if (case.method.upper(), case.path) in JOB_ONLY:
        _call_and_validate(case)


@relay.parametrize()
@FUZZ_SETTINGS
def test_fuzz_datasource_registration_as_the_relay(case: schemathesis.Case) -> None:
    _call_and_validate(case)


def test_the_backend_is_still_healthy_after_fuzzing(backend: Backend) -> None:
    """No worker died and nothing was answered with a 500 (the service logs each one)."""
    started = time.monotonic()
    assert requests.get(f"{backend.url}/api/health/", timeout=10).json() == {"status": "ok", "database": True}
    assert time.monotonic() - started < 5
    log = backend.log_path.read_text(errors="replace")
    assert "SIGSEGV" not in log and "WORKER TIMEOUT" not in log
    assert "unexpected error in" not in log and '" 500 ' not in log
