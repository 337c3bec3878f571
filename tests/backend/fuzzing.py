"""What the fuzz passes of both services share (``test_api_fuzz.py``: the platform backend;
``test_federated_api_fuzz.py``: a client's federated backend): how a live service's own schema is
loaded, the bounds and checks of a run, and how an answer is held to the schema.

Every run is deterministic (derandomized, no example database, no shrinking), so a failure
reproduces and the run's length is bounded. Checks: no 5xx, status code documented, content type
documented, body valid against the documented schema, and schema-invalid input refused with a
4xx. One exception: gunicorn's own 414 for a request line above 4094 bytes, which never reaches
the service.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.schemas import OpenApiSchema

#: Generated requests per operation (Hypothesis' ``max_examples``), beside the schema's examples and
#: the coverage phase's cases (most of the requests), which it does not bound. Generating large invalid
#: bodies is what costs the processor here, so it is kept small; every operation is still fuzzed.
MAX_EXAMPLES = 10
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection"]
#: The endpoints anyone may call (every other one refuses a request without credentials).
PUBLIC = {"/api/health/", "/api/auth/csrf/", "/api/auth/login/", "/api/auth/token/"}
GUNICORN_REQUEST_LINE = 4094  # gunicorn's limit_request_line default
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


def load(url: str, headers: dict[str, str] | None = None) -> OpenApiSchema:
    """The schema the service at ``url`` serves, set up for a bounded, deterministic run."""
    schema = schemathesis.openapi.from_url(f"{url}/api/schema/", headers={"Accept": "application/json"}, timeout=10)
    schema.config.update(base_url=url, headers=headers, request_timeout=30)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True,
                                    database="none")
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    schema.config.checks.update(included_check_names=CHECKS)
    return schema


def call_and_validate(case: schemathesis.Case) -> schemathesis.Response:
    """Send the case and hold the answer to the schema, except gunicorn's own 414 for a request
    line beyond its limit (4094 bytes): the request never reaches the service."""
    response = case.call()
    if response.status_code == 414:
        target = response.request.path_url  # path?query, as on the request line
        assert len(f"{case.method.upper()} {target} HTTP/1.1") > GUNICORN_REQUEST_LINE, target[:200]
        return response
    case.validate_response(response)
    return response


def refused_without_credentials(case: schemathesis.Case, response: schemathesis.Response) -> None:
    if case.path not in PUBLIC:
        assert response.status_code in (400, 401, 403, 404), f"{case.method} {case.path}: {response.status_code}"


if not hasattr(pytest.Function, "_nodeid"):
    # schemathesis 4.32.5's lazy loader renames the running item through ``_nodeid``, an attribute
    # pytest 9.2 no longer has (the id became a structured ``NodeId``); reading it as ``nodeid`` and
    # ignoring the renaming only changes how the subtests are labelled, not what runs.
    pytest.Function._nodeid = property(lambda item: item.nodeid, lambda item, value: None)
