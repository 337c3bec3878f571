"""What users do at the same moment, on live services (real PostgreSQL, broker and chain, gunicorn
with several processes): an owner's repeated clicks on "approve" start one trainer, not two; two
deployments posted at once, served by two processes that sign with the one platform key, both
create their trainings on chain (no nonce clash)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests

from kafkaml.control_topics import read_control
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.ledger import TrainingReader
from kafkaml.local import stack as local
from kafkaml.messages.kinds import DataControl, ModelControl
from kafkaml.signing import SIGNATURE_HEADER, sign
from kafkaml.sinks import publish_datasource
from kafkaml.workloads import make_workload
from tests.backend.client_services import FederatedBackend
from tests.backend.conftest import Backend, running_backend
from tests.backend.platform_flow import deploy_body, wait_for
from tests.conftest import throwaway_database, unique
from tests.integration.test_announcement_trust import ARCHITECTURE

AT_ONCE = 6


def at_once(calls: list) -> list[requests.Response]:
    """Every call sent at the same moment, each from its own thread (and connection)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def proposed_participation(federated: FederatedBackend, stack: local.Stack) -> dict[str, Any]:
    """A classic training announced to the client (signed by its platform, naming it) and a
    datasource of the client's that fits it: the client's approval policy leaves it proposed."""
    relay = {"Authorization": f"Relay {federated.relay_token}"}
    model_id = unique("kml-clicks")
    announcement = ModelControl(
        model_id=model_id, input_shape=(8,), output_shape=(3,),
        platform_bootstrap=stack.bootstrap("platform"), coordination="classic", control_topic=f"kml-fl-{model_id}",
        architecture=ARCHITECTURE, training={"epochs": 1}, clients=(federated.client.name,)).encode()
    body = {"control_topic": unique("model-control"), "partition": 0, "offset": 0,
            "record": base64.b64encode(announcement).decode(),
            "headers": {SIGNATURE_HEADER: base64.b64encode(sign(federated.signer.private_key(), announcement)).decode()}}
    model = requests.post(f"{federated.url}/api/models/register/", json=body, headers=relay, timeout=60)
    assert model.status_code == 201 and model.json()["model"]["state"] == "accepted", model.text

    bootstrap, control_topic = stack.bootstrap(federated.client.name), unique("data-control")
    share = make_workload("toy", 2, 600, seed=3, mode="random-split").clients[0]
    datasource_id = unique("clicks")  # the model is proposed with other tests' datasources too: this one
    publish_datasource(bootstrap, unique("kml-data"), datasource_id, share, 3, control_topic=control_topic)
    (record,) = read_control(bootstrap, control_topic, expected=DataControl, to_end=True)
    datasource = requests.post(f"{federated.url}/api/datasources/register/", headers=relay, timeout=60, json={
        "control_topic": control_topic, "partition": 0, "offset": record.offset,
        "record": base64.b64encode(record.raw).decode()})
    assert datasource.status_code == 201, datasource.text
    listed = federated.client.api().get(f"{federated.url}/api/participations/", params={"limit": 1000}).json()
    (participation,) = [p for p in listed["results"] if (p["model_id"], p["datasource_id"]) == (model_id, datasource_id)]
    assert participation["state"] == "proposed", participation
    return participation


def test_an_approval_that_read_a_participation_before_its_trainer_started_changes_nothing(
        federated_backend: FederatedBackend, local_stack: local.Stack) -> None:
    """Two approvals read the participation proposed; before they write, its trainer starts (this
    test holds the row and starts it, as the first click's scheduler would). Both are refused:
    written anyway, they would set a running participation back to approved and start a second
    trainer for it."""
    participation = proposed_participation(federated_backend, local_stack)
    url = f"{federated_backend.url}/api/participations/{participation['id']}"
    api = federated_backend.client.api()
    dsn = federated_backend.env["DATABASE_URL"]
    with psycopg.connect(dsn) as database, psycopg.connect(dsn, autocommit=True) as watcher:
        database.execute("SELECT state FROM federated_participation WHERE id = %s FOR UPDATE", [participation["id"]])
        with ThreadPoolExecutor(2) as pool:
            pending = [pool.submit(api.post, f"{url}/approve/", timeout=60) for _ in range(2)]
            deadline = time.monotonic() + 20
            while watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock'").fetchone()[0] < 2:
                assert time.monotonic() < deadline, "the approvals never waited for the participation's row"
                time.sleep(0.05)
            database.execute("UPDATE federated_participation SET state = 'running', job = 'trainer-started-first' "
                             "WHERE id = %s", [participation["id"]])
            database.commit()
            answers = [answer.result() for answer in pending]
    assert [answer.status_code for answer in answers] == [409, 409], [answer.text for answer in answers]
    assert all("the participation is running" in answer.json()["detail"] for answer in answers)
    assert api.get(f"{url}/").json()["job"] == "trainer-started-first"


def test_approving_one_participation_many_times_at_once_starts_one_trainer(
        federated_backend: FederatedBackend, local_stack: local.Stack) -> None:
    participation = proposed_participation(federated_backend, local_stack)
    url = f"{federated_backend.url}/api/participations/{participation['id']}"
    api = federated_backend.client.api()
    answers = at_once([lambda: api.post(f"{url}/approve/", timeout=60) for _ in range(AT_ONCE)])
    assert {answer.status_code for answer in answers} <= {200, 409}, [answer.text for answer in answers]
    assert any(answer.status_code == 200 for answer in answers)
    conflicts = [answer.json()["detail"] for answer in answers if answer.status_code == 409]
    assert all("only a proposed or declined one can be approved" in detail for detail in conflicts), conflicts
    try:
        now = api.get(f"{url}/").json()
        assert now["state"] == "running" and now["job"], now  # not failed: "a local job named ... exists already"
        jobs = LocalLauncher(local_stack.run_dir / f"{federated_backend.client.name}-jobs")
        assert len(jobs.status({LABEL_JOB: now["job"]})) == 1
    finally:
        api.post(f"{url}/stop/", timeout=60)


@pytest.fixture(scope="module")
def fresh_backend(local_stack: local.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A platform backend that has deployed nothing on chain yet (its own database)."""
    with throwaway_database() as dsn, running_backend(local_stack, dsn, tmp_path_factory.mktemp("at-once")) as running:
        yield running


def test_the_first_two_deployments_posted_at_once_both_create_their_trainings(fresh_backend: Backend,
                                                                              local_stack: local.Stack) -> None:
    """The backend serves with two processes (platform.WORKERS). The first blockchain deployments
    deploy the platform's contracts, once; then each process signs its training's creation with
    the admin key, so both read the same pending nonce unless the sender handles it."""
    backend = fresh_backend
    assert backend.workers >= 2
    user = backend.as_user("at-once")
    bodies = [deploy_body(backend, user, local_stack, rounds=2) for _ in range(2)]
    answers = at_once([lambda body=body: user.post(f"{backend.url}/api/deployments/", json=body, timeout=120)
                       for body in bodies])
    assert [answer.status_code for answer in answers] == [201, 201], [answer.text for answer in answers]
    results = [wait_for(user, backend, answer.json()["results"][0], lambda r: r["status"] != "created", 60)
               for answer in answers]
    try:
        assert [result["status"] for result in results] == ["running", "running"], [r["error"] for r in results]
        contracts = {result["contract_address"] for result in results}
        assert len(contracts) == 2 and "" not in contracts
        for contract in contracts:
            assert TrainingReader.open(local_stack.chain.address, contract).info().rounds == 2
    finally:
        for result in results:
            user.post(f"{backend.url}/api/results/{result['id']}/stop/", timeout=120)
    deadline = time.monotonic() + 30
    while any(user.get(f"{backend.url}/api/results/{r['id']}/").json()["status"] != "stopped" for r in results):
        assert time.monotonic() < deadline, "the trainings did not stop"
        time.sleep(0.5)
