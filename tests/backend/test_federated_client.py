"""The federated client module on the real path: the platform's REST API starts a blockchain
training; each client's data control logger registers its datasources, its model control logger
the announcement (trusted only as the chain anchors it), its federated backend matches them and
starts trainers — at once under the "auto" site policy, after the owner's approval under
"approval" — and the rounds show up in the platform's API, with accepted updates of both clients.
A mismatched datasource is not matched, with the reason visible; a client's federated backend and
loggers restarted mid-training lose nothing (its trainer trains on, its participation ends
finished); restarting a logger starts no duplicate job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kafkaml import processes
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.sinks import publish_datasource
from kafkaml.topics import MODEL_CONTROL_TOPIC, update_topic, weights_topic
from kafkaml.toydata import toy_blobs
from kafkaml.workloads import Samples, make_workload
from tests.backend.client_services import Client, start_client
from tests.backend.conftest import Backend
from tests.backend.platform_flow import deploy, wait_for
from tests.conftest import records_in, unique
from tests.jobs import logged


def test_the_whole_path_through_the_services(backend: Backend, local_stack: local.Stack, start_clients,
                                            tmp_path: Path) -> None:
    workload = make_workload("toy", 2, 1200, seed=7, mode="random-split")
    topic = unique("data-control")  # this test's datasources only, whatever else the session's brokers hold
    for index, name in enumerate(("client-1", "client-2")):
        publish_datasource(local_stack.bootstrap(name), unique("kml-data"), unique(f"{name}-data"),
                           workload.clients[index], workload.classes, control_topic=topic)
    # client-1 also has data the model cannot use (8 features expected, 5 here)
    publish_datasource(local_stack.bootstrap("client-1"), unique("kml-data"), unique("narrow"),
                       Samples(toy_blobs(60, 2)[0][:, :5].copy(), toy_blobs(60, 2)[1]), 3, control_topic=topic)
    alice = backend.as_user("alice-federated")
    # FedAvg over 2 updates: a client has at most one update pending on chain, so every round
    # takes one update of each client and cannot be made before the approval-policy client joins.
    result = deploy(backend, alice, local_stack, rounds=3, strategy="fedavg",
                    strategy_params={"updates": 2})  # deploys the platform's contracts if needed
    token = alice.get(f"{backend.url}/api/chain/").json()["token"]
    clients = start_clients(token, topic)

    def states(client: Client) -> dict[str, str]:
        """This training's participations by datasource (the session's other announcements match the
        same datasources too: one participation per announcement and datasource)."""
        return {p["datasource_id"]: p["state"] for p in client.participations()
                if p["model_id"] == result["federated_id"]}

    deadline = time.monotonic() + 90
    while not (any(s in ("running", "finished") for s in states(clients["client-1"]).values())
               and "proposed" in states(clients["client-2"]).values()):
        assert time.monotonic() < deadline, (states(clients["client-1"]), states(clients["client-2"]))
        time.sleep(0.5)
    narrow = next(p for p in clients["client-1"].participations()
                  if p["datasource_id"].startswith("narrow") and p["model_id"] == result["federated_id"])
    assert narrow["state"] == "mismatched" and "samples of shape (5,), the model expects (8,)" in narrow["reason"]
    waiting = next(p for p in clients["client-2"].participations()
                   if p["state"] == "proposed" and p["model_id"] == result["federated_id"])
    approved = clients["client-2"].api().post(f"{clients['client-2'].url}/api/participations/{waiting['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] in ("running", "approved"), approved.text
    # client-1's federated backend and both its loggers go down mid-training and come back (the
    # same database; a new port): its running trainer is a job of its own and trains on.
    restarted = clients["client-1"]
    for logger in restarted.loggers:
        logger.stop()
    processes.stop_group(restarted.pid)
    clients["client-1"] = start_client(local_stack, "client-1", token, "auto", tmp_path, data_control_topic=topic)

    final = wait_for(alice, backend, result["id"], lambda r: r["status"] != "running", 240)
    assert final["status"] == "finished", final
    deadline = time.monotonic() + 30  # the restarted backend's reconciler sees its trainer end
    while "finished" not in states(clients["client-1"]).values():
        assert time.monotonic() < deadline, states(clients["client-1"])
        time.sleep(0.5)
    rounds = alice.get(f"{backend.url}/api/results/{result['id']}/rounds/").json()
    assert [r["version"] for r in rounds] == [1, 2, 3], rounds
    contributors = {c["client"].lower() for r in rounds for c in r["contributions"] if c["accepted"]}
    everyone = {local_stack.account(n).address.lower() for n in ("client-1", "client-2")}
    assert everyone <= contributors, f"accepted updates came only from {contributors}: {rounds}"
    # A participation shows what the chain records of its client: its updates, rewards, balance.
    running = next(p for p in clients["client-1"].participations() if p["model_id"] == result["federated_id"]
                   and p["state"] in ("running", "finished"))
    detail = clients["client-1"].api().get(f"{clients['client-1'].url}/api/participations/{running['id']}/").json()
    assert detail["updates"] and all(u["base_version"] >= 0 for u in detail["updates"])
    assert int(detail["token_balance"]) >= int(detail["paid"]) and int(detail["earned"]) >= int(detail["paid"])
    # Restarting a client's model logger replays no announcement into a new job.
    before = len(clients["client-1"].participations())
    logger = clients["client-1"].loggers[1]
    logger.stop()
    announced = records_in(local_stack.bootstrap("platform"), MODEL_CONTROL_TOPIC)
    logger = clients["client-1"].loggers[1] = logger.again(f"{logger.name}-restarted", logger.environment).start()
    deadline = time.monotonic() + 30  # it resumes after every announcement, so it has nothing to replay
    while not logged(logger, f"relaying {MODEL_CONTROL_TOPIC} from offset {announced} "):
        assert time.monotonic() < deadline, logger.log_tail()
        time.sleep(0.3)
    assert len(clients["client-1"].participations()) == before
    models = clients["client-1"].api().get(f"{clients['client-1'].url}/api/models/").json()["results"]
    assert [m["state"] for m in models if m["model_id"] == result["federated_id"]] == ["accepted"]


@pytest.mark.parametrize("coordination", ["blockchain", "classic"])
def test_an_unregistered_site_starts_nothing(backend: Backend, local_stack: local.Stack, start_clients,
                                             coordination: str) -> None:
    """The deployment registers client-2 only. client-1's datasource fits the model and its site
    policy is auto, yet it declines the training — its wallet (classic: its id) is not registered
    — starts no trainer, not even when its owner approves, and publishes no update; client-2 trains."""
    workload = make_workload("toy", 2, 1200, seed=7, mode="random-split")
    topic = unique("data-control")  # this test's datasources only, whatever else the session's brokers hold
    for index, name in enumerate(("client-1", "client-2")):
        publish_datasource(local_stack.bootstrap(name), unique("kml-data"), unique(f"{name}-data"),
                           workload.clients[index], workload.classes, control_topic=topic)
    alice = backend.as_user(f"alice-unregistered-{coordination}")
    result = deploy(backend, alice, local_stack, rounds=2, clients=["client-2"], coordination=coordination)
    signer = platform.signer_account(backend.run_dir).address if coordination == "classic" else ""
    clients = start_clients(alice.get(f"{backend.url}/api/chain/").json()["token"], topic, ("auto", "auto"), signer)
    refusal = ("is not registered for the training" if coordination == "blockchain"
               else "this client ('client-1') is not named by the training's announcement")

    def of_this_training(client: Client) -> list[dict]:
        return [p for p in client.participations() if p["model_id"] == result["federated_id"]]

    deadline = time.monotonic() + 90
    while not (of_this_training(clients["client-1"])
               and any(p["state"] in ("running", "finished") for p in of_this_training(clients["client-2"]))):
        assert time.monotonic() < deadline, (of_this_training(clients["client-1"]),
                                             of_this_training(clients["client-2"]))
        time.sleep(0.5)
    declined = [p for p in of_this_training(clients["client-1"]) if p["state"] != "mismatched"]
    assert declined and all(p["state"] == "declined" and refusal in p["reason"] and not p["job"] for p in declined)
    again = clients["client-1"].api().post(f"{clients['client-1'].url}/api/participations/{declined[0]['id']}/approve/")
    assert again.status_code == 200 and again.json()["state"] == "declined" and refusal in again.json()["reason"]

    final = wait_for(alice, backend, result["id"], lambda r: r["status"] != "running", 240)
    assert final["status"] == "finished", final
    assert not any(p["job"] for p in of_this_training(clients["client-1"]))
    training_topic = weights_topic(result["federated_id"])
    identity = {name: local_stack.account(name).address if coordination == "blockchain" else name
                for name in ("client-1", "client-2")}
    assert records_in(local_stack.bootstrap("platform"), update_topic(training_topic, identity["client-1"])) == 0
    assert records_in(local_stack.bootstrap("platform"), update_topic(training_topic, identity["client-2"])) > 0
