"""What the training tests through the REST API share: data in the brokers, the validation
datasource registered as the data control logger would, a model and a deployment created through
the API, and the clients' trainers started beside (their own module starts them in a cluster)."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from web3 import HTTPProvider, Web3

from kafkaml.cli.platform_client import wait_until_built
from kafkaml.control_topics import read_control
from kafkaml.jobs import ChainAccess, LocalLauncher, TrainerJob
from kafkaml.jobs.local import LocalJob
from kafkaml.jobs.spec import LABEL_TRAINING
from kafkaml.ledger.gas import aggregator_gas
from kafkaml.local import stack as local
from kafkaml.messages.kinds import DataControl
from kafkaml.sinks import DATA_CONTROL_TOPIC, publish_datasource
from kafkaml.topics import MODEL_CONTROL_TOPIC
from kafkaml.toydata import TOY_MODEL_SOURCE
from kafkaml.workloads import make_workload
from tests.backend.conftest import Backend
from tests.conftest import unique
from tests.jobs import local_job


def register_validation_datasource(backend: Backend, stack: local.Stack, name: str, *, validation_rate: float = 0.95,
                                   test_rate: float = 0.0, topic: str | None = None) -> dict[str, Any]:
    """Publish a validation datasource on the platform's data control topic and register that very
    record through the API (the platform data control logger's part); a second call with the same
    ``name`` publishes another description of it. With a lower ``validation_rate`` it is a
    datasource a single training trains on."""
    workload = make_workload("toy", 2, 1200, seed=7, mode="random-split")
    publish_datasource(stack.bootstrap("platform"), topic or unique("kml-validation"), name, workload.validation,
                       workload.classes, validation_rate=validation_rate, test_rate=test_rate)
    *_, record = (r for r in read_control(stack.bootstrap("platform"), DATA_CONTROL_TOPIC, expected=DataControl,
                                          to_end=True)
                  if r.message.datasource_id == name)  # the newest: a name may be described again
    answer = backend.relay().post(f"{backend.url}/api/datasources/register/", json={
        "control_topic": DATA_CONTROL_TOPIC, "partition": 0, "offset": record.offset,
        "record": base64.b64encode(record.raw).decode()})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["datasource"]


def built_model(backend: Backend, user: requests.Session, name: str, source: str) -> dict[str, Any]:
    """A model created through the API, once the platform has built it (ready)."""
    created = user.post(f"{backend.url}/api/models/", json={"name": name, "source": source})
    assert created.status_code == 201 and created.json()["status"] == "building", created.text
    return wait_until_built(lambda: user.get(f"{backend.url}/api/models/{created.json()['id']}/").json())


def deploy_body(backend: Backend, user: requests.Session, stack: local.Stack, *, rounds: int,
                clients: Sequence[str] = ("client-1", "client-2"), coordination: str = "blockchain",
                strategy: str = "fedasync", strategy_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deployment's body, its model built and its configuration and validation datasource made
    through the API, registering the stack's ``clients``."""
    datasource = register_validation_datasource(backend, stack, unique("validation"))
    model = built_model(backend, user, unique("toy"), TOY_MODEL_SOURCE)
    configuration = user.post(f"{backend.url}/api/configurations/",
                              json={"name": unique("configuration"), "ml_models": [model["id"]]})
    assert configuration.status_code == 201, configuration.text
    identities = [stack.account(name).address if coordination == "blockchain" else name for name in clients]
    return {"configuration": configuration.json()["id"], "validation_datasource": datasource["id"],
            "coordination": coordination, "rounds": rounds, "epochs": 1, "batch": 32, "strategy": strategy,
            "strategy_params": strategy_params or {},
            "clients": [{"identity": identity, "sample_ceiling": 600} for identity in identities]}


def deploy(backend: Backend, user: requests.Session, stack: local.Stack, *, rounds: int,
           clients: Sequence[str] = ("client-1", "client-2"), coordination: str = "blockchain",
           strategy: str = "fedasync", strategy_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model → configuration → deployment through the API, registering the stack's ``clients``;
    returns the deployment's one result."""
    body = deploy_body(backend, user, stack, rounds=rounds, clients=clients, coordination=coordination,
                       strategy=strategy, strategy_params=strategy_params)
    deployment = user.post(f"{backend.url}/api/deployments/", json=body)
    assert deployment.status_code == 201, deployment.text
    (result_id,) = deployment.json()["results"]
    return wait_for(user, backend, result_id, lambda r: r["status"] in ("running", "failed"), 60)


def wait_for(user: requests.Session, backend: Backend, result_id: int, condition, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        result = user.get(f"{backend.url}/api/results/{result_id}/").json()
        if condition(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"result {result_id} still {result} after {timeout_s:.0f} s; "
                                 f"its jobs said:\n{job_logs(backend, result_id)}")
        time.sleep(0.3)


def job_logs(backend: Backend, result_id: int) -> str:
    """The end of every platform job's output for this result (what a failed test shows)."""
    logs = LocalLauncher(backend.run_dir / "platform-jobs").logs({LABEL_TRAINING: str(result_id)}, tail_lines=25)
    return "\n".join(f"--- {name}\n{text}" for name, text in logs.items())


def start_trainers(stack: local.Stack, result: dict[str, Any], token: str, directory: Path,
                   clients: int = 2, signer: str = "") -> list[LocalJob]:
    """The clients' trainers with their own keys and data (what each federated backend starts)."""
    workload = make_workload("toy", clients, 1200, seed=7, mode="random-split")
    jobs = []
    for index in range(1, clients + 1):
        datasource = unique(f"client-{index}")
        publish_datasource(stack.bootstrap(f"client-{index}"), unique("kml-data"), datasource,
                           workload.clients[index - 1], workload.classes)
        chain = None if signer else ChainAccess(stack.chain.address, stack.chain_id, result["contract_address"], token)
        job = TrainerJob(
            coordination="classic" if signer else "blockchain", platform_bootstrap_servers=stack.bootstrap("platform"),
            federated_id=result["federated_id"], client_id=f"client-{index}", model_logger_topic=MODEL_CONTROL_TOPIC,
            data_bootstrap_servers=stack.bootstrap(f"client-{index}"), datasource_id=datasource,
            data_control_topic=DATA_CONTROL_TOPIC, results_dir=str(directory / f"client-{index}"), stop_timeout_s=60,
            poll_interval_s=0.5, chain=chain, platform_signer=signer or None,
            wallet_key_file=None if signer else str(stack.account(f"client-{index}").key_file))
        jobs.append(local_job(directory, f"client-{index}", "training_worker.trainer", job.environment()).start())
    return jobs


def chain_of(stack: local.Stack) -> Web3:
    return Web3(HTTPProvider(stack.chain.address))


def assert_the_platform_paid_only_gas(stack: local.Stack, result: dict[str, Any], admin_before: int,
                                      first_block: int, *, rounds: int, clients: int) -> None:
    """Issue 18 (2): the training's aggregator account was funded for the gas its training can
    spend (the measured bound, times the default margin of 2, at a fee cap no lower than what the
    funding paid per gas) and swept back to the admin once it ended: the admin's balance fell by
    exactly the fees of its own and the aggregator's transactions, not a wei more."""
    w3 = chain_of(stack)
    admin, aggregator = stack.account("platform").address, result["aggregator_address"]
    deadline = time.monotonic() + 60  # a finished training is swept right after its final record is stored
    while w3.eth.get_balance(aggregator) != 0:
        assert time.monotonic() < deadline, f"{aggregator} still holds {w3.eth.get_balance(aggregator)} wei"
        time.sleep(0.3)
    fees, funded = 0, []
    for number in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] not in (admin, aggregator):
                continue
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            fees += receipt["gasUsed"] * receipt["effectiveGasPrice"]
            if tx["from"] == admin and tx["to"] == aggregator:
                funded.append((tx["value"], receipt["effectiveGasPrice"]))
    (value, price), = funded
    gas = math.ceil(aggregator_gas(rounds, clients) * 2.0)
    assert value % gas == 0 and value // gas >= price, (value, gas, price)
    assert admin_before - w3.eth.get_balance(admin) == fees
