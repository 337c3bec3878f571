"""The training jobs' contract (kafkaml/jobs/contract.py) against the jobs' reader
(training_worker/settings.py): every name a service can send is one the job declares, an
environment reads back into the same job, the jobs load it, and the services send the text they
sent before it: trainings on chain carry the settings hash of that text."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kafkaml.config import ConfigError
from kafkaml.control_topics import RecordPin
from kafkaml.heterogeneity import Heterogeneity
from kafkaml.jobs import AggregatorJob, ChainAccess, SingleTrainingJob, TrainerJob
from kafkaml.settings_hash import settings_hash
from tests.unit.test_worker_settings import ADDRESS, CLIENT, CONTRACT, KEY, TOKEN, layer, model_description
from training_worker.settings import (
    AGGREGATOR_GROUPS,
    SINGLE_GROUPS,
    TRAINER_GROUPS,
    load_aggregator_settings,
    load_single_settings,
    load_trainer_settings,
)

MODEL = model_description(layer("Dense", name="dense", units=3)).encode()
CHAIN = ChainAccess("http://127.0.0.1:8545", 31337, CONTRACT)

MINIMAL_AGGREGATOR = AggregatorJob(
    coordination="classic", bootstrap_servers="127.0.0.1:9092", federated_id="kml-1", rounds=3, strategy="fedavg",
    strategy_params={}, epochs=1, batch=32, reward_policy="improvement", reject_ratio=1.5, sample_weighting="capped",
    client_ceilings={"client-1": 600}, datasource_id="validation", data_control_topic="control",
    model_logger_topic="models", results_dir="/tmp/results", poll_interval_s=0.5,
)
FULL_AGGREGATOR = replace(
    MINIMAL_AGGREGATOR, coordination="blockchain", strategy_params={"updates": 2}, client_ceilings={CLIENT: 600},
    fit_kwargs={"shuffle": True}, val_kwargs={"verbose": 0}, min_data=10, data_restriction={"kind": "toy"},
    reward_base="2", reward_budget="7.5", exclude_after=3, datasource_sha256="ab" * 32, datasource_partition=0, datasource_offset=7,
    data_bootstrap_servers="127.0.0.1:9093",
    deployment_id=4, result_url="http://platform/api/results/9/", result_id=9, seed=7, stop_timeout_s=60.0,
    model_architecture_file="/run/model.json", wallet_key_file="/run/aggregator.key",
    chain=replace(CHAIN, token_address=TOKEN),
)
MINIMAL_TRAINER = TrainerJob(
    coordination="classic", platform_bootstrap_servers="127.0.0.1:9092", federated_id="kml-1", client_id="client-1",
    model_logger_topic="models", data_bootstrap_servers="127.0.0.1:9093", datasource_id="ds-1",
    data_control_topic="control", results_dir="/tmp/results", poll_interval_s=0.5,
)
FULL_TRAINER = replace(
    MINIMAL_TRAINER, coordination="blockchain", datasource_sha256="cd" * 32, datasource_partition=0, datasource_offset=9,
    announcement_partition=0,
    announcement_offset=5, announcement_sha256="ef" * 32, seed=8, stop_timeout_s=60.0,
    wallet_key_file="/run/client.key", platform_signer=ADDRESS, chain=replace(CHAIN, token_address=TOKEN),
    heterogeneity=Heterogeneity(4.0, 2, 30.0),
)
MINIMAL_SINGLE = SingleTrainingJob(
    data_bootstrap_servers="127.0.0.1:9092", datasource_id="ds-1", data_control_topic="control",
    datasource_sha256="ab" * 32, datasource_partition=0, datasource_offset=3, epochs=2, batch=16,
    results_dir="/tmp/results",
)
FULL_SINGLE = replace(
    MINIMAL_SINGLE, fit_kwargs={"shuffle": True}, val_kwargs={"verbose": 0}, result_url="http://platform/api/results/9/",
    result_id=9, seed=3, incremental=True, stream_timeout_s=30.0, window=500, monitor_metric="val_accuracy",
    monitor_mode="max", improvement=0.01, model_architecture_file="/run/model.json",
)


@pytest.mark.parametrize("contract, groups", [(AggregatorJob, AGGREGATOR_GROUPS), (TrainerJob, TRAINER_GROUPS),
                                              (SingleTrainingJob, SINGLE_GROUPS)])
def test_every_name_a_service_can_send_is_declared_by_the_job_that_reads_it(contract, groups) -> None:
    declared = {setting.name for group in groups for setting in group.settings}
    assert contract.variables() - declared == set()


@pytest.mark.parametrize("job", [FULL_AGGREGATOR, FULL_TRAINER, FULL_SINGLE])
def test_a_full_job_sends_every_name_of_its_contract(job) -> None:
    assert set(job.environment()) == type(job).variables()


@pytest.mark.parametrize("job", [MINIMAL_AGGREGATOR, FULL_AGGREGATOR, MINIMAL_TRAINER, FULL_TRAINER, MINIMAL_SINGLE, FULL_SINGLE,
                                 replace(FULL_TRAINER, heterogeneity=Heterogeneity(slowdown=2.5))])
def test_an_environment_reads_back_into_the_same_job(job) -> None:
    assert type(job).from_environ(job.environment()) == job


def test_values_are_text_and_unset_ones_are_not_sent() -> None:
    environment = MINIMAL_TRAINER.environment()
    assert environment["POLL_INTERVAL"] == "0.5" and "SEED" not in environment and "ETH_RPC_URL" not in environment
    assert not any(name.startswith("SIMULATED_") for name in environment)  # a normal client
    assert replace(MINIMAL_TRAINER, heterogeneity=Heterogeneity(slowdown=4.0)).environment()["SIMULATED_SLOWDOWN"] \
        == "4.0"
    sent = FULL_AGGREGATOR.environment()
    assert json.loads(sent["CLIENT_SAMPLE_CEILINGS"]) == {CLIENT: 600} and sent["ETH_CHAIN_ID"] == "31337"
    assert "ETH_TOKEN_ADDRESS" not in replace(FULL_AGGREGATOR, chain=CHAIN).environment()
    with pytest.raises(ValueError, match="AGGREGATION_ROUNDS is not set"):
        AggregatorJob.from_environ({k: v for k, v in sent.items() if k != "AGGREGATION_ROUNDS"})


def backend_environment_before_the_contract(job: AggregatorJob) -> dict[str, str]:
    """The platform backend's aggregator environment as it was written by hand, name by name, and
    the place of the datasource's description that pins it since."""
    return {
        "COORDINATION": job.coordination, "BOOTSTRAP_SERVERS": job.bootstrap_servers,
        "FEDERATED_STRING_ID": job.federated_id, "DEPLOYMENT_ID": str(job.deployment_id),
        "AGGREGATION_ROUNDS": str(job.rounds), "EPOCHS": str(job.epochs), "BATCH": str(job.batch),
        "KWARGS_FIT": json.dumps(job.fit_kwargs), "KWARGS_VAL": json.dumps(job.val_kwargs),
        "AGG_STRATEGY": job.strategy, "AGG_STRATEGY_PARAMS": json.dumps(job.strategy_params),
        "MIN_DATA": str(job.min_data), "DATA_RESTRICTION": json.dumps(job.data_restriction),
        "REWARD_POLICY": job.reward_policy, "REWARD_BASE": job.reward_base,
        "REWARD_BUDGET": job.reward_budget, "REWARD_REJECT_RATIO": str(job.reject_ratio),
        "SAMPLE_WEIGHTING": job.sample_weighting, "CLIENT_SAMPLE_CEILINGS": json.dumps(job.client_ceilings),
        "DATASOURCE_ID": job.datasource_id, "DATASOURCE_SHA256": job.datasource_sha256,
        "DATASOURCE_PARTITION": str(job.datasource_partition), "DATASOURCE_OFFSET": str(job.datasource_offset),
        "DATA_CONTROL_TOPIC": job.data_control_topic,
        "DATA_BOOTSTRAP_SERVERS": job.data_bootstrap_servers, "MODEL_LOGGER_TOPIC": job.model_logger_topic,
        "RESULT_URL": job.result_url, "RESULT_ID": str(job.result_id),
        "RESULTS_DIR": job.results_dir, "POLL_INTERVAL": "0.5",
    }


def local_environment_before_the_contract(job: AggregatorJob) -> dict[str, str]:
    """``kafkaml train``'s aggregator environment as it was written by hand, name by name."""
    return {
        "COORDINATION": job.coordination, "BOOTSTRAP_SERVERS": job.bootstrap_servers,
        "FEDERATED_STRING_ID": job.federated_id, "MODEL_ARCHITECTURE_FILE": job.model_architecture_file,
        "AGGREGATION_ROUNDS": str(job.rounds), "AGG_STRATEGY": job.strategy,
        "AGG_STRATEGY_PARAMS": json.dumps(job.strategy_params), "EPOCHS": str(job.epochs),
        "BATCH": str(job.batch), "SEED": str(job.seed), "REWARD_POLICY": job.reward_policy,
        "REWARD_REJECT_RATIO": str(job.reject_ratio),
        "RESULTS_DIR": job.results_dir, "DATASOURCE_ID": job.datasource_id,
        "DATA_CONTROL_TOPIC": job.data_control_topic, "MODEL_LOGGER_TOPIC": job.model_logger_topic,
        "STOP_TIMEOUT": str(job.stop_timeout_s), "POLL_INTERVAL": "0.5",
        "CLIENT_SAMPLE_CEILINGS": json.dumps(job.client_ceilings),
        "SAMPLE_WEIGHTING": job.sample_weighting,
    }


def test_the_services_send_what_they_sent_and_the_settings_hash_is_unchanged() -> None:
    backend = replace(FULL_AGGREGATOR, seed=None, stop_timeout_s=None, model_architecture_file=None,
                      wallet_key_file=None, chain=None, exclude_after=None)  # sent only since it exists
    assert backend.environment() == backend_environment_before_the_contract(backend)
    assert backend.settings_hash(MODEL) == settings_hash(backend_environment_before_the_contract(backend), MODEL)
    local = replace(MINIMAL_AGGREGATOR, seed=1, stop_timeout_s=300.0, model_architecture_file="/run/model.json")
    assert local.environment() == local_environment_before_the_contract(local)
    assert local.settings_hash(MODEL) == settings_hash(local_environment_before_the_contract(local), MODEL)
    assert backend.settings_hash(MODEL) != replace(backend, rounds=4).settings_hash(MODEL)
    assert backend.settings_hash(MODEL) != replace(backend, exclude_after=2).settings_hash(MODEL)


def test_the_jobs_load_what_the_contract_sends(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_bytes(MODEL)
    (tmp_path / "wallet.key").write_text(KEY)
    aggregator = replace(FULL_AGGREGATOR, model_architecture_file=str(tmp_path / "model.json"),
                         wallet_key_file=str(tmp_path / "wallet.key"), results_dir=str(tmp_path / "results"))
    settings = load_aggregator_settings(aggregator.environment())
    assert (settings.rounds, settings.client_ceilings, settings.deployment_id) == (3, {CLIENT: 600}, 4)
    assert settings.training.fit_kwargs == {"shuffle": True} and settings.stream.datasource_sha256 == "ab" * 32
    assert settings.chain is not None and settings.chain.contract_address == CONTRACT
    assert settings.settings_hash == aggregator.settings_hash(MODEL)
    trainer = replace(FULL_TRAINER, wallet_key_file=str(tmp_path / "wallet.key"), platform_signer=None)
    loaded = load_trainer_settings(trainer.environment())
    assert loaded.heterogeneity == Heterogeneity(4.0, 2, 30.0) and loaded.federated_id == "kml-1"
    assert loaded.chain is not None and loaded.chain.token_address == TOKEN and loaded.chain.wallet_address == ADDRESS
    assert loaded.announcement_pin == RecordPin(0, 5, "ef" * 32)
    assert settings.stream.datasource_pin == RecordPin(0, 7, "ab" * 32)
    assert loaded.stream.datasource_pin == RecordPin(0, 9, "cd" * 32)
    classic = replace(MINIMAL_TRAINER, platform_signer=ADDRESS)
    assert load_trainer_settings(classic.environment()).platform_signer == ADDRESS


def test_the_single_training_job_loads_what_the_contract_sends(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_bytes(MODEL)
    single = replace(MINIMAL_SINGLE, model_architecture_file=str(tmp_path / "model.json"))
    settings = load_single_settings(single.environment())
    assert settings.incremental is None and (settings.training.epochs, settings.training.batch) == (2, 16)
    assert settings.stream.datasource_pin == RecordPin(0, 3, "ab" * 32)
    incremental = load_single_settings(replace(FULL_SINGLE, model_architecture_file=str(tmp_path / "model.json"))
                                       .environment()).incremental
    assert incremental is not None and (incremental.window, incremental.monitor_metric) == (500, "val_accuracy")
    assert incremental.improves(0.90, 0.88) and not incremental.improves(0.885, 0.88)  # max, by more than 0.01
    with pytest.raises(ConfigError, match="MONITOR_METRIC='loss' must name a validation metric"):
        load_single_settings(replace(FULL_SINGLE, model_architecture_file=str(tmp_path / "model.json"),
                                     monitor_metric="loss").environment())
