"""Anyone can write to the model control topic: a trainer trains only on the announcement its
training anchors (its hash recorded on chain at start; in classic mode the platform's signature),
and an aggregator refuses a training created for other settings (real broker, real chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from kafkaml import kafka
from kafkaml.config import ConfigError
from kafkaml.ledger.client import Ledger
from kafkaml.local import stack as local
from kafkaml.local.accounts import new_account
from kafkaml.local.jobs import Job
from kafkaml.local.train import (
    Run,
    RunOptions,
    aggregator_job,
    build_model_file,
    create_training,
    deploy_token_once,
    publish_workload,
)
from kafkaml.pointers import WeightsPointer
from kafkaml.schemas import BlockchainInfo, ModelControl
from kafkaml.signing import SIGNATURE_HEADER, sign, signed_by
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic
from kafkaml.workloads import make_workload
from tests.conftest import unique
from training_worker.announcement import AnnouncementError, find_model
from training_worker.coordination.chain import ChainClient
from training_worker.settings import load_trainer_settings

ARCHITECTURE = json.dumps({"class_name": "Sequential", "config": {"layers": []}})


def announcement(model_id: str, *, epochs: int, contract: str | None = None) -> bytes:
    return ModelControl(
        model_id=model_id, federated_string_id=model_id, input_shape=(8,), output_shape=(3,),
        platform_bootstrap="127.0.0.1:1", coordination="blockchain" if contract else "classic",
        control_topic="" if contract else f"kml-fl-{model_id}", architecture=ARCHITECTURE,
        training={"epochs": epochs},
        blockchain=BlockchainInfo("http://127.0.0.1:1", 1, contract) if contract else None,
    ).encode()


def publish(bootstrap: str, topic: str, records: list[tuple[bytes, list]]) -> None:
    producer = kafka.producer(bootstrap)
    try:
        for value, headers in records:
            producer.send(topic, value, partition=0, headers=headers).get(timeout=15)
    finally:
        producer.close()


def test_classic_trainer_takes_only_the_announcement_its_platform_signed(local_stack: local.Stack,
                                                                           tmp_path: Path) -> None:
    bootstrap, topic, model_id = local_stack.bootstrap("platform"), unique("model-control"), unique("model")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    platform, stranger = new_account(tmp_path / "platform.key"), new_account(tmp_path / "stranger.key")
    genuine = announcement(model_id, epochs=1)
    forged = announcement(model_id, epochs=99)
    publish(bootstrap, topic, [
        (genuine, [(SIGNATURE_HEADER, sign(platform.private_key(), genuine))]),
        (forged, []),  # newer, unsigned
        (forged, [(SIGNATURE_HEADER, sign(stranger.private_key(), forged))]),  # newer, signed by someone else
        (forged, [(SIGNATURE_HEADER, b"\x00" * 65)]),  # newer, a malformed signature
    ])
    found = find_model(bootstrap, topic, model_id, 5, lambda r: signed_by(r.raw, r.headers, platform.address))
    assert found.training == {"epochs": 1}
    with pytest.raises(AnnouncementError, match="was not announced"):
        find_model(bootstrap, topic, model_id, 1, lambda r: signed_by(r.raw, r.headers, "0x" + "11" * 20))


def test_chain_trainer_takes_only_the_announcement_whose_hash_the_training_recorded(
        local_stack: local.Stack, tmp_path: Path) -> None:
    rpc, admin_key = local_stack.chain.address, local_stack.account("platform").private_key()
    token = deploy_token_once(local_stack)
    aggregator = new_account(tmp_path / "aggregator.key")
    Ledger.fund(rpc, admin_key, aggregator.address, 10**18)
    address = Ledger.create_training(rpc, admin_key, token_address=token, aggregator=aggregator.address,
                                     settings_hash=b"\x01" * 32, weights_topic="kml-weights-t", strategy="fedasync",
                                     rounds=3, budget=10**18)
    model_id = unique("model")
    genuine, forged = announcement(model_id, epochs=1, contract=address), announcement(model_id, epochs=99,
                                                                                       contract=address)
    ledger = Ledger.open(rpc, address, aggregator.private_key())
    client = local_stack.account("client-1")
    ledger.register_clients({client.address: 10})
    ledger.start(b"\x02" * 32, WeightsPointer("kml-weights-t", 0, 0, 1), hashlib.sha256(genuine).digest())
    bootstrap, topic = local_stack.bootstrap("platform"), unique("model-control")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    publish(bootstrap, topic, [(genuine, []), (forged, [])])
    settings = load_trainer_settings({
        "COORDINATION": "blockchain", "KML_CLOUD_BOOTSTRAP_SERVERS": bootstrap, "FEDERATED_MODEL_ID": model_id,
        "FEDERATED_CLIENT_ID": "client-1", "DATA_BOOTSTRAP_SERVERS": bootstrap, "DATASOURCE_ID": "x",
        "ETH_RPC_URL": rpc, "ETH_CHAIN_ID": str(local_stack.chain_id), "ETH_WALLET_KEY_FILE": str(client.key_file),
        "ETH_CONTRACT_ADDRESS": address, "ETH_TOKEN_ADDRESS": token})
    coordinator = ChainClient.open(settings)
    found = find_model(bootstrap, topic, model_id, 5, lambda r: coordinator.trusts_announcement(r.raw))
    assert found.training == {"epochs": 1}
    other_token = Ledger.deploy_token(rpc, admin_key)  # another platform
    with pytest.raises(ConfigError, match="belongs to the platform of token"):
        ChainClient.open(replace(settings, chain=replace(settings.chain, token_address=other_token)))


def test_aggregator_refuses_a_training_created_for_other_settings(local_stack: local.Stack, tmp_path: Path) -> None:
    options = RunOptions(clients=1, rounds=2, mode="blockchain", stop_timeout_s=30)
    run = Run(unique("run"), tmp_path, local_stack, options)
    workload = make_workload("toy", 1, 300, seed=3, mode="random-split")
    publish_workload(local_stack, workload, run.run_id)
    created = aggregator_job(run, workload, build_model_file(run, workload))
    run.aggregator_account = new_account(tmp_path / "keys" / "aggregator.key")
    created = create_training(run, created, deploy_token_once(local_stack))
    job = Job("aggregator", "training_worker.aggregator", replace(created, rounds=3).environment(),
              tmp_path / "aggregator.log").start()
    assert job.wait(timeout_s=120) == 2
    assert "was created for other settings" in job.log_path.read_text()
