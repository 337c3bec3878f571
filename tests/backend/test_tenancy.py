"""Tenants are bounded (issue 18, item 2), on a live backend with the real chain: what a user can
make the platform mint or run is capped by its quotas (400 naming the field; 429 for the trainings
running at once) while staff may exceed them; a blockchain deployment names at least one client;
and a training whose aggregator job fails costs the admin nothing but gas (its account is swept).
The finished and stopped trainings' sweeps are checked in test_training_via_api.py."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import requests

from kafkaml.local import stack as local
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.backend.conftest import Backend
from tests.backend.platform_flow import (
    assert_the_platform_paid_only_gas,
    built_model,
    chain_of,
    register_validation_datasource,
)
from tests.conftest import unique


def _configuration(backend: Backend, user: requests.Session, source: str = TOY_MODEL_SOURCE) -> int:
    model = built_model(backend, user, unique("toy"), source)
    configuration = user.post(f"{backend.url}/api/configurations/",
                              json={"name": unique("configuration"), "ml_models": [model["id"]]})
    assert configuration.status_code == 201, configuration.text
    return configuration.json()["id"]


@pytest.fixture(scope="module")
def tenant(backend: Backend, local_stack: local.Stack) -> dict[str, Any]:
    """A user with a one-model configuration, a validation datasource and a valid deployment body."""
    user = backend.as_user("tenant")
    datasource = register_validation_datasource(backend, local_stack, unique("validation"))
    body = {"configuration": _configuration(backend, user), "validation_datasource": datasource["id"],
            "coordination": "blockchain", "rounds": 5, "strategy": "fedasync",
            "clients": [{"identity": local_stack.account("client-1").address, "sample_ceiling": 600}]}
    return {"user": user, "body": body, "datasource": datasource}


def _status_in_database(backend: Backend, result_id: int) -> str:
    with psycopg.connect(backend.env["DATABASE_URL"]) as connection:
        (status,) = connection.execute("SELECT status FROM platform_trainingresult WHERE id = %s", [result_id]).fetchone()
    return status


def wait_until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def _deploy(backend: Backend, session: requests.Session, body: dict[str, Any]) -> requests.Response:
    return session.post(f"{backend.url}/api/deployments/", json=body, timeout=120)


def _stop_all(backend: Backend, session: requests.Session, deployment: dict[str, Any]) -> None:
    for result in deployment["results"]:
        session.post(f"{backend.url}/api/results/{result}/stop/", timeout=120)


def test_each_cap_is_a_400_naming_its_field_and_staff_may_exceed_them(backend: Backend, tenant: dict) -> None:
    user, body = tenant["user"], tenant["body"]
    client = body["clients"][0]["identity"]
    over = {  # the defaults: base 10 tokens, a training mints at most 1000, ceilings up to 10,000,000
        "reward_base": {"reward_base": "10.5"},
        "reward_budget": {"reward_budget": "1000.000000000000000001"},
        "clients": {"clients": [{"identity": client, "sample_ceiling": 10_000_001}]},
    }
    for field, change in over.items():
        answer = _deploy(backend, user, {**body, **change})
        assert answer.status_code == 400 and list(answer.json()) == [field], (field, answer.text)
    base_times_rounds = _deploy(backend, user, {**body, "reward_base": "10", "rounds": 101})
    assert base_times_rounds.status_code == 400, base_times_rounds.text
    assert "reward base times 101 rounds" in base_times_rounds.json()["reward_budget"][0]
    nobody = _deploy(backend, user, {**body, "clients": []})
    assert nobody.status_code == 400 and "at least one client" in nobody.json()["clients"][0], nobody.text
    assert user.get(f"{backend.url}/api/deployments/").json()["count"] == 0  # nothing was recorded

    staff = backend.admin()
    exceeding = _deploy(backend, staff, {**body, **over["reward_base"], **over["clients"], "reward_budget": "5000"})
    assert exceeding.status_code == 201, exceeding.text
    _stop_all(backend, staff, exceeding.json())


def test_trainings_running_at_once_are_capped_with_429(backend: Backend, tenant: dict) -> None:
    """The default quota is 4 per user; staff are not held to it."""
    user, body = backend.as_user("tenant-busy"), tenant["body"]
    body = {**body, "configuration": _configuration(backend, user)}
    running = [backend.dormant_result("tenant-busy")[0] for _ in range(4)]
    refused = _deploy(backend, user, body)
    assert refused.status_code == 429 and "at most 4 at once" in refused.json()["detail"], refused.text
    assert user.post(f"{backend.url}/api/results/{running[0]}/stop/").status_code == 200  # one ends
    accepted = _deploy(backend, user, body)
    assert accepted.status_code == 201, accepted.text
    _stop_all(backend, user, accepted.json())

    staff = backend.admin()
    for _ in range(4):
        backend.dormant_result(staff.get(f"{backend.url}/api/auth/me/").json()["username"])
    exceeding = _deploy(backend, staff, body)
    assert exceeding.status_code == 201, exceeding.text
    _stop_all(backend, staff, exceeding.json())


def test_a_failed_trainings_aggregator_account_is_swept(backend: Backend, local_stack: local.Stack,
                                                         tenant: dict) -> None:
    """An aggregator that cannot start (its model takes 5 features, the validation data has 8)
    fails for good; the result is marked failed and its funded account swept back."""
    user = backend.as_user("tenant-failing")
    narrow = TOY_MODEL_SOURCE.replace("keras.Input(shape=(8,))", "keras.Input(shape=(5,))")
    assert narrow != TOY_MODEL_SOURCE
    chain = chain_of(local_stack)
    admin_before, first_block = chain.eth.get_balance(local_stack.account("platform").address), chain.eth.block_number + 1
    deployed = _deploy(backend, user, {**tenant["body"], "configuration": _configuration(backend, user, narrow)})
    assert deployed.status_code == 201, deployed.text
    (result_id,) = deployed.json()["results"]
    # The backend's reconciler marks it failed by itself: the database says so before anyone asks.
    wait_until(lambda: _status_in_database(backend, result_id) not in ("created", "running"), 240)
    failed = user.get(f"{backend.url}/api/results/{result_id}/").json()
    assert failed["status"] == "failed" and "aggregator job failed" in failed["error"], failed
    assert_the_platform_paid_only_gas(local_stack, failed, admin_before, first_block, rounds=5, clients=1)
