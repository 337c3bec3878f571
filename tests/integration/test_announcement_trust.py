"""Anyone can write to the model control topic: a trainer trains only on the announcement its
training anchors (its hash recorded on chain at start; in classic mode the platform's signature),
a trainer pinned to one announcement (ANNOUNCEMENT_OFFSET, ANNOUNCEMENT_SHA256) takes that record
alone, and an aggregator refuses a training created for other settings (real broker, real chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from kafkaml import kafka
from kafkaml.config import ConfigError
from kafkaml.jobs import TrainerJob
from kafkaml.ledger import AggregatorLedger, PlatformLedger
from kafkaml.local import stack as local
from kafkaml.local.accounts import new_account
from kafkaml.local.train import (
    Run,
    RunOptions,
    aggregator_job,
    build_model_file,
    create_training,
    deploy_token_once,
    publish_workload,
)
from kafkaml.messages.kinds import BlockchainInfo, ModelControl
from kafkaml.pointers import WeightsPointer
from kafkaml.signing import SIGNATURE_HEADER, sign, signed_by
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic
from kafkaml.workloads import make_workload
from tests.conftest import unique
from tests.jobs import local_job
from training_worker.announcement import AnnouncementError, find_model
from training_worker.coordination.chain import ChainClient
from training_worker.coordination.factory import open_client
from training_worker.settings import load_trainer_settings

ARCHITECTURE = json.dumps({"class_name": "Sequential", "config": {"layers": []}})


def announcement(model_id: str, *, epochs: int, contract: str | None = None,
                 platform_bootstrap: str = "127.0.0.1:1") -> bytes:
    return ModelControl(
        model_id=model_id, input_shape=(8,), output_shape=(3,),
        platform_bootstrap=platform_bootstrap, coordination="blockchain" if contract else "classic",
        control_topic="" if contract else f"kml-fl-{model_id}", architecture=ARCHITECTURE,
        training={"epochs": epochs},
        blockchain=BlockchainInfo("http://127.0.0.1:1", 1, contract) if contract else None,
    ).encode()


def publish(bootstrap: str, topic: str, records: list[tuple[bytes, list]]) -> list[int]:
    """The records' offsets."""
    producer = kafka.producer(bootstrap)
    try:
        return [producer.send(topic, value, partition=0, headers=headers).get(timeout=15).offset
                for value, headers in records]
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


def classic_trainer(bootstrap: str, topic: str, model_id: str, signer: str, directory: Path,
                    pin: tuple[int, bytes] | None = None) -> TrainerJob:
    """A classic trainer of ``model_id``, pinned to the record at offset ``pin[0]`` with the
    SHA-256 of the bytes ``pin[1]``, as the federated backend pins it (unpinned without ``pin``)."""
    return TrainerJob(
        coordination="classic", platform_bootstrap_servers=bootstrap, federated_id=model_id, client_id="client-1",
        model_logger_topic=topic, data_bootstrap_servers=bootstrap, datasource_id="x",
        data_control_topic=unique("data-control"), results_dir=str(directory / "results"), poll_interval_s=0.5,
        platform_signer=signer, announcement_partition=0 if pin else None, announcement_offset=pin[0] if pin else None,
        announcement_sha256=hashlib.sha256(pin[1]).hexdigest() if pin else None)


def test_a_pinned_classic_trainer_takes_the_very_announcement_it_was_pinned_to(local_stack: local.Stack,
                                                                               tmp_path: Path) -> None:
    """Issue 20: a trainer took the newest signed announcement of its model id, not the one its
    client's service matched and its owner approved. Pinned, it takes that record, and only
    when its platform signed it."""
    bootstrap, topic, model_id = local_stack.bootstrap("platform"), unique("model-control"), unique("model")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    platform = new_account(tmp_path / "platform.key")
    approved, newer, forged = (announcement(model_id, epochs=epochs, platform_bootstrap=bootstrap)
                               for epochs in (1, 2, 99))
    offsets = publish(bootstrap, topic, [
        (approved, [(SIGNATURE_HEADER, sign(platform.private_key(), approved))]),
        (newer, [(SIGNATURE_HEADER, sign(platform.private_key(), newer))]),  # the platform's, newer
        (forged, []),  # unsigned
    ])

    def announced(pin: tuple[int, bytes] | None) -> ModelControl:
        job = classic_trainer(bootstrap, topic, model_id, platform.address, tmp_path, pin)
        return open_client(load_trainer_settings(job.environment()))[0]

    assert announced((offsets[0], approved)).training == {"epochs": 1}
    assert announced(None).training == {"epochs": 2}  # unpinned (started by hand): the newest
    with pytest.raises(AnnouncementError, match=rf"{topic}\[0\]@{offsets[2]} was not announced by its platform"):
        announced((offsets[2], forged))


def test_a_trainer_pinned_to_other_bytes_exits_naming_both_digests(local_stack: local.Stack, tmp_path: Path) -> None:
    """The record at the pinned offset is not the one pinned (its SHA-256 differs): the trainer
    exits with code 2 and one line naming both digests, and takes no other announcement."""
    bootstrap, topic, model_id = local_stack.bootstrap("platform"), unique("model-control"), unique("model")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    platform = new_account(tmp_path / "platform.key")
    genuine, other = (announcement(model_id, epochs=epochs, platform_bootstrap=bootstrap) for epochs in (1, 2))
    (offset,) = publish(bootstrap, topic, [(genuine, [(SIGNATURE_HEADER, sign(platform.private_key(), genuine))])])
    job = classic_trainer(bootstrap, topic, model_id, platform.address, tmp_path, (offset, other))
    trainer = local_job(tmp_path, "client-1", "training_worker.trainer", job.environment()).start()
    code = trainer.wait(timeout_s=120)
    log = trainer.log_path.read_text()
    assert code == 2, log
    actual, pinned = hashlib.sha256(genuine).hexdigest(), hashlib.sha256(other).hexdigest()
    assert (f"cannot train: the pinned announcement of model {model_id!r} is refused: the record at "
            f"{topic}[0]@{offset} has SHA-256 {actual}, not the pinned {pinned}") in log, log
    assert "Traceback" not in log


def test_chain_trainer_takes_only_the_announcement_whose_hash_the_training_recorded(
        local_stack: local.Stack, tmp_path: Path) -> None:
    rpc, admin_key = local_stack.chain.address, local_stack.account("platform").private_key()
    token = deploy_token_once(local_stack)
    aggregator = new_account(tmp_path / "aggregator.key")
    PlatformLedger.fund(rpc, admin_key, aggregator.address, 10**18)
    address = PlatformLedger.create_training(rpc, admin_key, token_address=token, aggregator=aggregator.address,
                                     settings_hash=b"\x01" * 32, weights_topic="kml-weights-t", strategy="fedasync",
                                     rounds=3, budget=10**18)
    model_id = unique("model")
    genuine, forged = announcement(model_id, epochs=1, contract=address), announcement(model_id, epochs=99,
                                                                                       contract=address)
    ledger = AggregatorLedger.open(rpc, address, aggregator.private_key())
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
    other_token = PlatformLedger.deploy_token(rpc, admin_key)  # another platform
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
    job = local_job(tmp_path, "aggregator", "training_worker.aggregator",
                    replace(created, rounds=3).environment()).start()
    assert job.wait(timeout_s=120) == 2
    assert "was created for other settings" in job.log_path.read_text()
