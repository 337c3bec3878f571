"""Fuzzing a client's live federated backend with its own OpenAPI schema, as
``test_api_fuzz.py`` does the platform's (``tests/backend/fuzzing.py``: bounds and checks): as a
user who is not staff, without credentials, and with the loggers' relay token on the registration
endpoints they call — every record a topic can hold must be taken, none may make a 5xx.

Kept out of reach: staff may approve participations (which start trainer jobs) and stop them, so
staff is not fuzzed; the backend is site policy ``approval`` with no datasource of its own, so
nothing a fuzzed registration adds can start a job.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.backend.client_services import FederatedBackend
from tests.backend.fuzzing import FUZZ_SETTINGS, call_and_validate, load, refused_without_credentials

NOT_FOR_USERS = re.compile(r"/api/(participations/\{id\}/(approve|decline|stop)|models/register|datasources/register)")


@pytest.fixture(scope="module")
def user_schema(federated_backend: FederatedBackend) -> OpenApiSchema:
    return load(federated_backend.url, {"Authorization": f"Token {federated_backend.user_token('fuzz-user')}"})


@pytest.fixture(scope="module")
def anonymous_schema(federated_backend: FederatedBackend) -> OpenApiSchema:
    return load(federated_backend.url)


@pytest.fixture(scope="module")
def relay_schema(federated_backend: FederatedBackend) -> OpenApiSchema:
    return load(federated_backend.url, {"Authorization": f"Relay {federated_backend.relay_token}"})


user = schemathesis.pytest.from_fixture("user_schema")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
relay = schemathesis.pytest.from_fixture("relay_schema").include(path_regex=r"/register/(progress/)?$")


@user.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_a_user_who_is_not_staff(case: schemathesis.Case) -> None:
    response = call_and_validate(case)
    if NOT_FOR_USERS.match(case.path) and case.method.upper() == "POST":
        assert response.status_code in (400, 403, 404), f"{case.method} {case.path}: {response.status_code}"


@anonymous.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_credentials(case: schemathesis.Case) -> None:
    refused_without_credentials(case, call_and_validate(case))


@relay.parametrize()
@FUZZ_SETTINGS
def test_fuzz_the_registrations_as_the_relay(case: schemathesis.Case) -> None:
    call_and_validate(case)


def test_the_federated_backend_is_still_healthy_after_fuzzing(federated_backend: FederatedBackend) -> None:
    started = time.monotonic()
    assert requests.get(f"{federated_backend.url}/api/health/", timeout=10).json() == {"status": "ok",
                                                                                       "database": True}
    assert time.monotonic() - started < 5
    log = (federated_backend.directory / "backend.log").read_text(errors="replace")
    assert "SIGSEGV" not in log and "WORKER TIMEOUT" not in log
    assert "unexpected error in" not in log and '" 500 ' not in log
