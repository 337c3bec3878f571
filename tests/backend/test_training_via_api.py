"""A whole blockchain training created through the REST API only, on a live backend with real
PostgreSQL, brokers, chain and TensorFlow: rounds appear in the API, the final model downloads
and its weights are the chain's final version; stopping kills the jobs; a backend restart in the
middle of a training loses no round and doubles none. Finished or stopped, the training cost the
platform's admin nothing but gas: its aggregator account is swept back."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import keras
import numpy as np

from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_TRAINING
from kafkaml.ledger import TrainingReader
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.weights.codec import version_metadata, weights_hash
from tests.backend.conftest import Backend
from tests.backend.platform_flow import (
    assert_the_platform_paid_only_gas,
    chain_of,
    deploy,
    job_logs,
    start_trainers,
    wait_for,
)

ROUNDS = 3


def test_a_blockchain_training_through_the_api(backend: Backend, local_stack: local.Stack, tmp_path: Path) -> None:
    alice = backend.as_user("alice-train")
    chain = chain_of(local_stack)
    admin_before, first_block = chain.eth.get_balance(local_stack.account("platform").address), chain.eth.block_number + 1
    result = deploy(backend, alice, local_stack, rounds=ROUNDS)
    assert result["status"] == "running" and result["contract_address"], result
    token = alice.get(f"{backend.url}/api/chain/").json()["token"]
    trainers = start_trainers(local_stack, result, token, tmp_path)
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 240
        while len(seen) < ROUNDS and time.monotonic() < deadline:  # rounds appear while it trains
            rounds = alice.get(f"{backend.url}/api/results/{result['id']}/rounds/",
                               params={"after": seen[-1] if seen else 0}).json()
            seen += [r["version"] for r in rounds]
            time.sleep(0.5)
        assert seen == list(range(1, ROUNDS + 1)), f"{seen}\n{job_logs(backend, result['id'])}"
        final = wait_for(alice, backend, result["id"], lambda r: r["status"] != "running", 120)
    finally:
        for trainer in trainers:
            trainer.stop()
    assert final["status"] == "finished", final
    assert_the_platform_paid_only_gas(local_stack, result, admin_before, first_block, rounds=ROUNDS, clients=2)
    rounds = alice.get(f"{backend.url}/api/results/{result['id']}/rounds/").json()
    assert all(r["transaction"]["gas"] > 0 and r["transaction"]["hash"].startswith("0x") for r in rounds)
    assert any(c["accepted"] for r in rounds for c in r["contributions"])
    chart = alice.get(f"{backend.url}/api/results/{result['id']}/chart/").json()
    assert chart["versions"] == list(range(1, ROUNDS + 1)) and len(chart["val_accuracy"]) == ROUNDS

    download = alice.get(f"{backend.url}/api/results/{result['id']}/model/")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == download.headers["X-Content-SHA256"]
    path = tmp_path / "final.keras"
    path.write_bytes(download.content)
    weights = keras.models.load_model(path, compile=False).get_weights()
    latest = TrainingReader.open(local_stack.chain.address, result["contract_address"]).latest_version()
    assert latest.version == ROUNDS
    final_hash = weights_hash([np.asarray(w) for w in weights], version_metadata(result["federated_id"], ROUNDS))
    assert final_hash == latest.content_hash and download.headers["X-Weights-SHA256"] == latest.content_hash.hex()

    chain = alice.get(f"{backend.url}/api/results/{result['id']}/chain/").json()
    assert chain["phase"] == "finished" and chain["versions"] == ROUNDS + 1
    assert sum(int(c["paid"]) for c in chain["clients"]) == int(chain["credited"]) > 0
    # The platform's token pays every training of the platform: a balance holds at least this one's payout.
    assert all(int(c["balance"]) >= int(c["paid"]) for c in chain["clients"])
    assert any(int(c["paid"]) > 0 for c in chain["clients"])
    # Lineage: each round names its version's hash and Kafka pointer, as the chain recorded them.
    recorded = {v.version: v for v in TrainingReader.open(local_stack.chain.address, result["contract_address"]).history().versions}
    for entry in rounds:
        assert entry["sha256"] == recorded[entry["version"]].content_hash.hex()
        assert entry["pointer"]["end_offset"] - entry["pointer"]["start_offset"] == recorded[entry["version"]].pointer.chunk_count
        assert all(c["base_version"] == entry["version"] - 1 - c["staleness"] for c in entry["contributions"])
    # The clients page: every client of the training, its accepted updates and earnings, its balance.
    clients = {c["client"]: c for c in alice.get(f"{backend.url}/api/clients/").json()["clients"]}
    for on_chain in chain["clients"]:
        seen = clients[on_chain["client"]]
        assert seen["balance"] == on_chain["balance"] and seen["trainings"][0]["result"] == result["id"]
        assert seen["earned"] == on_chain["earned"]
    assert sum(c["accepted"] for c in clients.values()) == sum(
        c["accepted"] for r in rounds for c in r["contributions"])
    assert backend.as_user("bob-train").get(f"{backend.url}/api/results/{result['id']}/model/").status_code == 404

    started = alice.post(f"{backend.url}/api/results/{result['id']}/audits/")
    assert started.status_code == 201 and started.json()["status"] == "running", started.text
    deadline = time.monotonic() + 120
    while (audit := alice.get(f"{backend.url}/api/results/{result['id']}/audits/").json()[0])["status"] == "running":
        assert time.monotonic() < deadline, job_logs(backend, result["id"])
        time.sleep(0.5)
    assert audit["status"] == "passed", audit
    assert [c["version"] for c in audit["report"]["checks"]] == list(range(1, ROUNDS + 1))
    assert all(c["ok"] and c["recomputed"] == c["recorded"] for c in audit["report"]["checks"])
    assert io.BytesIO(download.content).getbuffer().nbytes > 0


def test_stop_kills_the_jobs_and_the_status_says_stopped(backend: Backend, local_stack: local.Stack) -> None:
    alice = backend.as_user("alice-stop")
    chain = chain_of(local_stack)
    admin_before, first_block = chain.eth.get_balance(local_stack.account("platform").address), chain.eth.block_number + 1
    result = deploy(backend, alice, local_stack, rounds=50)
    launcher = LocalLauncher(backend.run_dir / "platform-jobs")
    assert [s.state for s in launcher.status({LABEL_TRAINING: str(result["id"])})] in (["running"], ["pending"])
    stopped = alice.post(f"{backend.url}/api/results/{result['id']}/stop/")
    assert stopped.status_code == 200 and stopped.json()["stopped"] == [f"aggregator-{result['id']}"]
    assert alice.get(f"{backend.url}/api/results/{result['id']}/").json()["status"] == "stopped"
    assert launcher.status({LABEL_TRAINING: str(result["id"])}) == []
    assert_the_platform_paid_only_gas(local_stack, result, admin_before, first_block, rounds=50, clients=2)
    assert alice.post(f"{backend.url}/api/results/{result['id']}/stop/").status_code == 409
    assert alice.delete(f"{backend.url}/api/results/{result['id']}/").status_code == 204


def test_a_backend_restart_mid_training_loses_and_doubles_nothing(backend: Backend, local_stack: local.Stack,
                                                                 tmp_path: Path) -> None:
    alice = backend.as_user("alice-restart")
    result = deploy(backend, alice, local_stack, rounds=ROUNDS + 1)
    token = alice.get(f"{backend.url}/api/chain/").json()["token"]
    trainers = start_trainers(local_stack, result, token, tmp_path)
    try:
        wait_for(alice, backend, result["id"], lambda r: (r["rounds_done"] or 0) >= 1, 180)
        backend.stop(grace_s=0)  # killed: the aggregator's reports fail and are kept
        aggregator = LocalLauncher(backend.run_dir / "platform-jobs")
        deadline = time.monotonic() + 120
        while not any("did not take the" in log for log in aggregator.logs({LABEL_TRAINING: str(result["id"])},
                                                                          tail_lines=400).values()):
            assert time.monotonic() < deadline, "no report of the aggregator's failed while the backend was down"
            time.sleep(0.3)
        backend.start()
        final = wait_for(alice, backend, result["id"], lambda r: r["status"] != "running", 240)
    finally:
        for trainer in trainers:
            trainer.stop()
        if not backend.pid:
            backend.start()
    assert final["status"] == "finished", final
    versions = [r["version"] for r in alice.get(f"{backend.url}/api/results/{result['id']}/rounds/").json()]
    assert versions == list(range(1, ROUNDS + 2)), versions


def test_a_classic_training_through_the_api(backend: Backend, local_stack: local.Stack, tmp_path: Path) -> None:
    """Classic coordination: no chain; the aggregator signs its announcement with the platform's
    signer key, which the trainers trust."""
    alice = backend.as_user("alice-classic")
    result = deploy(backend, alice, local_stack, rounds=2, coordination="classic")
    assert result["status"] == "running" and not result["contract_address"], result
    signer = platform.signer_account(backend.run_dir).address
    trainers = start_trainers(local_stack, result, "", tmp_path, signer=signer)
    try:
        final = wait_for(alice, backend, result["id"], lambda r: r["status"] != "running", 240)
    finally:
        for trainer in trainers:
            trainer.stop()
    assert final["status"] == "finished", f"{final}\n{job_logs(backend, result['id'])}"
    assert [r["version"] for r in alice.get(f"{backend.url}/api/results/{result['id']}/rounds/").json()] == [1, 2]
