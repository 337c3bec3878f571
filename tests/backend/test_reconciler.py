"""The services bring job and participation state up to date themselves (kafkaml.services.reconciler),
not when someone reads it: an approved participation waiting for a trainer slot starts as soon as
the running trainer ends, with no request in between (issue 20; seen as "only 3 of 4 trainers
started" in a repeated deployment). A client's federated backend on PostgreSQL with one trainer
slot, real trainer processes; what it did is read from its database, never through its API."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import requests

from kafkaml import processes
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_JOB, LABEL_OWNER
from kafkaml.local import client as local_client
from kafkaml.local import stack as local
from kafkaml.local.accounts import new_account
from kafkaml.local.train import deploy_token_once
from kafkaml.messages.kinds import DataControl, ModelControl, OffsetRange
from kafkaml.signing import SIGNATURE_HEADER, sign
from tests.backend.client_services import ONE_ADDRESS_FOR_EVERY_TEST, start_backend
from tests.conftest import throwaway_database, unique
from tests.integration.test_announcement_trust import ARCHITECTURE

CLIENT = "client-3"
#: A classic training naming this client; its platform broker never answers, so a trainer started for
#: it waits until it is stopped.
MODEL = ModelControl(model_id="m", input_shape=(8,), output_shape=(3,),
                     platform_bootstrap="127.0.0.1:1", coordination="classic", architecture=ARCHITECTURE,
                     training={"epochs": 1}, clients=(CLIENT,))
DATA = DataControl(datasource_id="d", topic="t", format="RAW", train=(OffsetRange(0, 0, 150),), validation=(),
                   test=(), input_shape=(8,), input_dtype="float32", label_shape=(1,), label_dtype="int64",
                   classes=3)


def _register(url: str, relay_token: str, path: str, topic: str, value: bytes, headers: dict[str, bytes]) -> dict:
    body = {"control_topic": topic, "partition": 0, "offset": 0, "record": base64.b64encode(value).decode(),
            "headers": {name: base64.b64encode(item).decode() for name, item in headers.items()}}
    answer = requests.post(f"{url}/api/{path}/register/", json=body, headers={"Authorization": f"Relay {relay_token}"},
                           timeout=60)
    assert answer.status_code == 201, answer.text[:500]
    return answer.json()


def _states(dsn: str) -> dict[int, tuple[str, str]]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("SELECT id, state, job FROM federated_participation ORDER BY id").fetchall()
    return {pk: (state, job) for pk, state, job in rows}


def _wait(condition, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_waiting_participation_starts_when_the_slot_frees_without_any_request(local_stack: local.Stack,
                                                                                tmp_path: Path) -> None:
    signer = new_account(tmp_path / "platform-signer.key")
    with throwaway_database() as dsn:
        env = {**local_client.backend_environment(local_stack, CLIENT, token_address=deploy_token_once(local_stack),
                                                  platform_signer=signer.address, site_policy="auto"),
               "DATABASE_URL": dsn, "KAFKAML_RUN_DIR": str(tmp_path), "MAX_RUNNING_TRAINERS": "1",
               "BACKEND_RECONCILE_INTERVAL_S": "0.5", **ONE_ADDRESS_FOR_EVERY_TEST}
        running = start_backend(CLIENT, env, tmp_path / "home", tmp_path / "backend.log")
        launcher = LocalLauncher(tmp_path / f"{CLIENT}-jobs")
        try:
            relay = (tmp_path / "home" / local_client.TOKEN_FILE).read_text().strip()
            for name in map(unique, ("first", "second")):
                announced = replace(MODEL, model_id=name, control_topic=f"kml-fl-{name}").encode()
                model = _register(running.url, relay, "models", unique("model-control"), announced,
                                  {SIGNATURE_HEADER: sign(signer.private_key(), announced)})["model"]
                assert model["state"] == "accepted", model
            _register(running.url, relay, "datasources", unique("data-control"), DATA.encode(), {})
            states = _states(dsn)
            first, second = sorted(states)
            assert [state for state, _ in states.values()] == ["running", "approved"], states  # one slot

            launcher.stop({LABEL_JOB: states[first][1]})  # the first trainer ends (here: its job is gone)
            started = _wait(lambda: (s := _states(dsn))[second][1] and s,
                            "the waiting participation to start in the freed slot")
            assert started[first][0] == "failed" and started[second][0] != "approved", started
            assert [s.name for s in launcher.status({LABEL_JOB: started[second][1]})] == [started[second][1]]
        finally:
            processes.stop_group(running.pid)
            launcher.stop({LABEL_OWNER: "federated-backend"})
