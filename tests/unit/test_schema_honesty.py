"""Schema honesty (issue 18, item 9): what the services answer is what their OpenAPI schemas say.

* Every answer a view's services can give is documented for its operation: the table below was
  made by reading every view and what it calls (a 409 from a state check, a 429 from a quota, a
  503 from the chain or the job launcher, a 400 from a check that takes no input), and the
  answers every request can get before a view reads it (400, 406, 413) are on every operation.
  The committed schemas are the generated ones (test_openapi_schema.py), so this reads them.
* A field the schema types as a string takes strings only: every input serializer of both
  services uses the strict string fields of :mod:`kafkaml.services.rest` (DRF's own took ``5`` as
  ``"5"``); test_api_basics.py checks the 400s on the live backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EVERYWHERE = {"400", "406", "413"}
#: Answers found by reading the views, beyond the success, 401/403 (credentials), 404 (a path
#: naming a resource) and 415 (a body).
READ_FROM_THE_VIEWS = {
    "backend": {
        ("post", "/api/models/"): {"503"},  # the builder's job (a cluster's launcher)
        ("patch", "/api/models/{id}/"): {"409", "503"},  # a trained model's source is frozen; the builder
        ("delete", "/api/models/{id}/"): {"409"},  # used by a configuration or a result
        ("delete", "/api/configurations/{id}/"): {"409"},  # has deployments
        ("post", "/api/deployments/"): {"429", "503"},  # trainings running at once; no Kafka, chain or key
        ("get", "/api/results/{id}/"): {"503"},  # the launcher cannot say how the job is
        ("delete", "/api/results/{id}/"): {"409", "503"},  # still running; its account cannot be swept
        ("post", "/api/results/{id}/stop/"): {"409", "503"},  # not running; the launcher
        ("get", "/api/results/{id}/chain/"): {"400", "503"},  # a classic training; the chain
        ("get", "/api/results/{id}/audits/"): {"503"},  # the launcher (syncing audits)
        ("post", "/api/results/{id}/audits/"): {"400", "409", "503"},  # classic; one running; chain or launcher
        ("post", "/api/chain/"): {"403", "503"},  # staff only; the chain
        ("post", "/api/auth/token/"): {"401", "403"},  # wrong credentials
    },
    "federated_backend": {
        ("post", "/api/models/register/"): {"503"},  # an accepted announcement schedules trainers
        ("post", "/api/datasources/register/"): {"503"},  # a new datasource schedules trainers
        ("get", "/api/participations/"): {"503"},
        ("get", "/api/participations/{id}/"): {"503"},
        ("post", "/api/participations/{id}/approve/"): {"409", "503"},
        ("post", "/api/participations/{id}/decline/"): {"409"},
        ("post", "/api/participations/{id}/stop/"): {"409", "503"},
        ("get", "/api/participations/{id}/logs/"): {"503"},
    },
}


def _documented(service: str) -> dict[tuple[str, str], set[str]]:
    schema = yaml.safe_load((ROOT / service / "openapi.yaml").read_text())
    return {(method, path): set(operation["responses"]) for path, item in schema["paths"].items()
            for method, operation in item.items()}


@pytest.mark.parametrize("service", sorted(READ_FROM_THE_VIEWS))
def test_every_answer_of_every_operation_is_documented(service: str) -> None:
    documented = _documented(service)
    missing = {operation: sorted(codes - documented[operation])
               for operation, codes in READ_FROM_THE_VIEWS[service].items() if codes - documented[operation]}
    assert missing == {}
    assert {operation: sorted(EVERYWHERE - codes) for operation, codes in documented.items()
            if EVERYWHERE - codes} == {}


STRICTNESS = """
import json, django
django.setup()
from django.urls import get_resolver
from rest_framework import serializers
from kafkaml.services.rest import StrictCharField, StrictRegexField

def loose(field, where):
    if isinstance(field, serializers.CharField) and not isinstance(field, (StrictCharField, StrictRegexField)):
        yield where
    for name, child in getattr(field, "fields", {}).items():
        yield from loose(child, f"{where}.{name}")
    for attribute in ("child", "child_relation"):
        if getattr(field, attribute, None) is not None:
            yield from loose(getattr(field, attribute), f"{where}[]")

def views(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from views(pattern.url_patterns)
        elif hasattr(pattern.callback, "view_class"):
            yield pattern.callback.view_class

modules = {view.__module__ for view in views(get_resolver().url_patterns)}
inputs = {}
for module in modules:
    for name, value in vars(__import__(module, fromlist=["_"])).items():
        if isinstance(value, type) and issubclass(value, serializers.Serializer) and name.endswith("Input"):
            inputs[f"{value.__module__}.{name}"] = list(loose(value(), name))
print(json.dumps(inputs))
"""


@pytest.mark.parametrize("service", ["backend", "federated_backend"])
def test_every_input_string_field_refuses_numbers(service: str, tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_SECRET_KEY": "unit", "KAFKAML_RUN_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": f"{service}.settings"}
    done = subprocess.run([sys.executable, "-c", STRICTNESS], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    inputs = json.loads(done.stdout.splitlines()[-1])
    assert len(inputs) >= (6 if service == "backend" else 3), inputs  # the walk found the input serializers
    assert {name: fields for name, fields in inputs.items() if fields} == {}
