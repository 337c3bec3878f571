"""Job settings: a good environment loads into frozen dataclasses; bad ones name every bad variable."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kafkaml.config import ConfigError
from kafkaml.control_topics import RecordPin
from kafkaml.heterogeneity import Heterogeneity
from kafkaml.rewards import ONE_TOKEN
from training_worker.settings import load_aggregator_settings, load_trainer_settings

# Anvil's first deterministic development account: a public test key, never a real one.
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CLIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def layer(class_name: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def model_description(*layers: dict) -> str:
    """What the builder prints for a Sequential model of ``layers`` (hand-written: no TensorFlow here)."""
    architecture = {"module": "keras", "class_name": "Sequential", "registered_name": None,
                    "config": {"name": "sequential", "layers": [layer("InputLayer", batch_shape=[None, 8]), *layers]}}
    return json.dumps({"architecture": json.dumps(architecture), "compile_config": {"loss": "mse"},
                       "parameters": 27, "input_shape": [8], "output_shape": [3],
                       "layers": [{"name": "dense", "class": "Dense", "output_shape": [3], "parameters": 27}],
                       "weights": [{"shape": [8, 3], "dtype": "float32"}, {"shape": [3], "dtype": "float32"}]})


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.key"
    path.write_text(KEY + "\n")
    return path


@pytest.fixture()
def aggregator_env(tmp_path: Path, key_file: Path) -> dict[str, str]:
    model_file = tmp_path / "model.json"
    model_file.write_text(model_description(layer("Dense", name="dense", units=3)))
    (tmp_path / "lambda.json").write_text(model_description(layer("Lambda", name="spy", function={})))
    (tmp_path / "huge.json").write_text(" " * (4 * 1024 * 1024 + 1))
    return {
        "BOOTSTRAP_SERVERS": "127.0.0.1:9092", "FEDERATED_STRING_ID": "fl-1", "MODEL_ARCHITECTURE_FILE": str(model_file),
        "DATA_TOPIC": "validation", "ETH_RPC_URL": "http://127.0.0.1:8545", "ETH_CHAIN_ID": "31337",
        "ETH_WALLET_KEY_FILE": str(key_file), "ETH_CONTRACT_ADDRESS": CONTRACT,
    }


@pytest.fixture()
def trainer_env(key_file: Path) -> dict[str, str]:
    return {
        "KML_CLOUD_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATA_BOOTSTRAP_SERVERS": "127.0.0.1:9093",
        "DATA_TOPIC": "ev-data", "FEDERATED_MODEL_ID": "fl-1", "FEDERATED_CLIENT_ID": "client-1",
        "ETH_RPC_URL": "http://127.0.0.1:8545", "ETH_CHAIN_ID": "31337", "ETH_WALLET_KEY_FILE": str(key_file),
        "ETH_CONTRACT_ADDRESS": CONTRACT, "ETH_TOKEN_ADDRESS": TOKEN,
    }


def test_aggregator_defaults(aggregator_env: dict[str, str]) -> None:
    settings = load_aggregator_settings(aggregator_env)
    assert settings.coordination == "blockchain" and settings.rounds == 10
    assert settings.model.weights[0].shape == (8, 3) and '"Dense"' in settings.model.architecture
    assert settings.strategy.describe() == {"name": "fedasync", "params": {"alpha": 0.9, "staleness": "polynomial", "a": 0.5}}
    assert settings.reward_policy.base == ONE_TOKEN and settings.reward_policy.name == "improvement"
    assert (settings.training.batch, settings.training.epochs, settings.training.fit_kwargs) == (32, 1, {})
    assert settings.training.val_kwargs == {"batch_size": 32}
    assert settings.stream.bootstrap_servers == "127.0.0.1:9092"  # the validation stream defaults to the platform's
    assert (settings.stream.topic, settings.stream.datasource_id) == ("validation", None)
    assert (settings.training.seed, settings.training.start_timeout_s, settings.training.fetch_timeout_s) == (0, 120, 60)
    assert settings.chain is not None and settings.chain.wallet_address == ADDRESS
    assert settings.chain.contract_address == CONTRACT  # created by the platform beforehand
    assert settings.client_ceilings == {} and settings.reward_budget == 10 * ONE_TOKEN  # REWARD_BASE x rounds
    assert len(settings.settings_hash) == 32 and settings.signing_key is None
    assert settings.results.url == "" and settings.results.directory == Path("kafkaml-results")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rounds = 3  # type: ignore[misc]


def test_aggregator_explicit_values(aggregator_env: dict[str, str]) -> None:
    settings = load_aggregator_settings({
        **aggregator_env, "AGG_STRATEGY": "FedAvg", "AGG_STRATEGY_PARAMS": '{"updates": 3}', "AGGREGATION_ROUNDS": "4",
        "KWARGS_FIT": "epochs=2, shuffle=True", "BATCH": "8", "REWARD_POLICY": "tiered", "REWARD_BASE": "2.5",
        "DATA_RESTRICTION": '{"features": 8}', "RESULT_URL": "http://backend/results/7", "RESULT_ID": "7",
    })
    assert settings.strategy.name == "fedavg" and settings.strategy.updates_per_round == 3
    assert (settings.training.epochs, settings.training.batch, settings.training.fit_kwargs) == (2, 8, {"shuffle": True})
    assert settings.reward_policy.name == "tiered" and settings.reward_policy.base == 25 * ONE_TOKEN // 10
    assert settings.data_restriction == {"features": 8} and settings.rounds == 4
    assert (settings.results.url, settings.results.result_id) == ("http://backend/results/7", "7")


def test_classic_mode_needs_no_chain_but_a_signing_key(aggregator_env: dict[str, str], key_file: Path) -> None:
    env = {key: value for key, value in aggregator_env.items() if not key.startswith("ETH_")}
    with pytest.raises(ConfigError, match="ETH_WALLET_KEY is required"):
        load_aggregator_settings({**env, "COORDINATION": "classic"})
    settings = load_aggregator_settings({**env, "COORDINATION": "classic", "ETH_WALLET_KEY_FILE": str(key_file)})
    assert settings.chain is None and settings.signing_key == KEY and KEY not in repr(settings)


def test_classic_trainer_needs_the_platform_signer(trainer_env: dict[str, str]) -> None:
    env = {key: value for key, value in trainer_env.items() if not key.startswith("ETH_")} | {"COORDINATION": "classic"}
    with pytest.raises(ConfigError, match="PLATFORM_SIGNER_ADDRESS=''"):
        load_trainer_settings(env)
    assert load_trainer_settings({**env, "PLATFORM_SIGNER_ADDRESS": ADDRESS}).platform_signer == ADDRESS


def test_sample_ceilings_budget_and_the_settings_hash(aggregator_env: dict[str, str]) -> None:
    env = {**aggregator_env, "CLIENT_SAMPLE_CEILINGS": f'{{"{CLIENT}": 600}}', "REWARD_BUDGET": "2.5"}
    settings = load_aggregator_settings(env)
    assert settings.client_ceilings == {CLIENT: 600} and settings.reward_budget == 25 * ONE_TOKEN // 10
    assert load_aggregator_settings({**env, "SAMPLE_WEIGHTING": "equal"}).client_ceilings == {CLIENT: 1}
    # the hash covers what defines the training: another strategy, budget or model gives another hash
    for change in ({"AGG_STRATEGY": "mix"}, {"REWARD_BUDGET": "3"}, {"CLIENT_SAMPLE_CEILINGS": f'{{"{CLIENT}": 6}}'}):
        assert load_aggregator_settings({**env, **change}).settings_hash != settings.settings_hash
    assert load_aggregator_settings({**env, "POLL_INTERVAL": "2"}).settings_hash == settings.settings_hash


def test_trainer_settings(trainer_env: dict[str, str]) -> None:
    settings = load_trainer_settings({**trainer_env, "EPOCHS": "3", "KWARGS_VAL": '{"verbose": 0}'})
    assert (settings.platform_bootstrap_servers, settings.stream.bootstrap_servers) == ("127.0.0.1:9092", "127.0.0.1:9093")
    assert (settings.federated_id, settings.client_id, settings.training.epochs) == ("fl-1", "client-1", 3)
    assert settings.training.val_kwargs == {"verbose": 0, "batch_size": 32}
    assert settings.chain is not None and settings.chain.contract_address == CONTRACT


def test_the_trainer_reads_the_knobs_and_is_normal_without_them(trainer_env: dict[str, str]) -> None:
    assert load_trainer_settings(trainer_env).heterogeneity == Heterogeneity()
    settings = load_trainer_settings({**trainer_env, "SIMULATED_SLOWDOWN": "4", "SIMULATED_DROPOUT_AFTER": "2",
                                      "SIMULATED_DROPOUT_S": "30"})
    assert settings.heterogeneity == Heterogeneity(4.0, 2, 30.0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"SIMULATED_SLOWDOWN": "0.5"}, "SIMULATED_SLOWDOWN=0.5 must be at least 1"),
    ({"SIMULATED_SLOWDOWN": "fast"}, "SIMULATED_SLOWDOWN='fast' is not a valid float"),
    ({"SIMULATED_DROPOUT_AFTER": "3"}, "SIMULATED_DROPOUT_AFTER: a dropout needs both"),
    ({"SIMULATED_DROPOUT_S": "-1"}, "SIMULATED_DROPOUT_S=-1.0 must be at least 0"),
])
def test_bad_knobs_stop_the_trainer_at_start(trainer_env: dict[str, str], changes: dict[str, str],
                                             message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_trainer_settings({**trainer_env, **changes})


def test_a_described_datasource_replaces_data_topic(trainer_env: dict[str, str]) -> None:
    env = {**trainer_env, "DATA_TOPIC": "", "DATASOURCE_ID": "ds-7", "DATA_CONTROL_TOPIC": "client-1-control"}
    stream = load_trainer_settings(env).stream
    assert (stream.datasource_id, stream.control_topic, stream.topic) == ("ds-7", "client-1-control", "")
    with pytest.raises(ConfigError, match="DATA_TOPIC or DATASOURCE_ID is required"):
        load_trainer_settings({**env, "DATASOURCE_ID": ""})


def test_a_datasource_pin_needs_its_digest(trainer_env: dict[str, str]) -> None:
    env = {**trainer_env, "DATA_TOPIC": "", "DATASOURCE_ID": "ds-7", "DATASOURCE_SHA256": "ab" * 32}
    assert load_trainer_settings(env).stream.datasource_pin is None  # the topic is scanned for that digest
    pinned = {**env, "DATASOURCE_OFFSET": "12", "DATASOURCE_PARTITION": "1"}
    assert load_trainer_settings(pinned).stream.datasource_pin == RecordPin(1, 12, "ab" * 32)
    with pytest.raises(ConfigError, match="DATASOURCE_OFFSET needs DATASOURCE_SHA256"):
        load_trainer_settings({**pinned, "DATASOURCE_SHA256": ""})
    with pytest.raises(ConfigError, match="DATASOURCE_OFFSET=-1 must be at least 0"):
        load_trainer_settings({**pinned, "DATASOURCE_OFFSET": "-1"})


def test_an_announcement_pin_is_read_whole_or_refused(trainer_env: dict[str, str]) -> None:
    assert load_trainer_settings(trainer_env).announcement_pin is None  # a trainer started by hand
    pin = {"ANNOUNCEMENT_OFFSET": "7", "ANNOUNCEMENT_SHA256": "ab" * 32}
    assert load_trainer_settings({**trainer_env, **pin}).announcement_pin == RecordPin(0, 7, "ab" * 32)
    assert load_trainer_settings({**trainer_env, **pin, "ANNOUNCEMENT_PARTITION": "2"}).announcement_pin \
        == RecordPin(2, 7, "ab" * 32)
    for changes in ({"ANNOUNCEMENT_SHA256": ""}, {"ANNOUNCEMENT_OFFSET": None}, {"ANNOUNCEMENT_SHA256": "AB" * 32},
                    {"ANNOUNCEMENT_SHA256": "ab" * 31}):
        env = {name: value for name, value in {**trainer_env, **pin, **changes}.items() if value is not None}
        with pytest.raises(ConfigError, match="ANNOUNCEMENT_OFFSET and ANNOUNCEMENT_SHA256 .* pin an announcement"):
            load_trainer_settings(env)
    with pytest.raises(ConfigError, match="ANNOUNCEMENT_OFFSET=-1 must be at least 0"):
        load_trainer_settings({**trainer_env, **pin, "ANNOUNCEMENT_OFFSET": "-1"})


def test_private_key_never_shows_in_repr(trainer_env: dict[str, str]) -> None:
    settings = load_trainer_settings(trainer_env)
    assert settings.chain is not None and settings.chain.private_key == KEY
    assert KEY not in repr(settings) and KEY[2:] not in repr(settings)


def test_every_bad_variable_is_reported_at_once(aggregator_env: dict[str, str]) -> None:
    env = {**aggregator_env, "BATCH": "0", "AGGREGATION_ROUNDS": "many", "COORDINATION": "smoke-signals"}
    del env["FEDERATED_STRING_ID"]
    with pytest.raises(ConfigError) as caught:
        load_aggregator_settings(env)
    message = str(caught.value)
    for name in ("BATCH=0", "AGGREGATION_ROUNDS='many'", "COORDINATION='smoke-signals'", "FEDERATED_STRING_ID is required"):
        assert name in message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"AGG_STRATEGY": "fedprox"}, "AGG_STRATEGY / AGG_STRATEGY_PARAMS: unknown aggregation strategy 'fedprox'"),
        ({"AGG_STRATEGY_PARAMS": '{"alpha": 2}'}, "parameter 'alpha' must be in"),
        ({"AGG_STRATEGY_PARAMS": "[1]"}, "parameters must be a JSON object"),
        ({"KWARGS_FIT": "callbacks=[]"}, "KWARGS_FIT: fit argument 'callbacks' is not allowed"),
        ({"KWARGS_FIT": "epochs=open('/etc/passwd')"}, "KWARGS_FIT: fit arguments must be a JSON object"),
        ({"KWARGS_VAL": '{"steps": -1}'}, "KWARGS_VAL: evaluate argument 'steps'"),
        ({"EPOCHS": "2", "KWARGS_FIT": '{"epochs": 3}'}, "EPOCHS=2 contradicts KWARGS_FIT's epochs=3"),
        ({"MODEL_ARCHITECTURE_FILE": "/nonexistent/model.json"},
         "MODEL_ARCHITECTURE_FILE='/nonexistent/model.json' cannot be read"),
        ({"REWARD_BASE": "lots"}, "REWARD_BASE: 'lots' is not a decimal number"),
        ({"REWARD_POLICY": "bonus"}, "REWARD_POLICY='bonus' must be one of"),
        ({"REWARD_REJECT_RATIO": "0.5"}, "REWARD_REJECT_RATIO=0.5 must be at least 1"),
        ({"DATA_RESTRICTION": '"none"'}, "DATA_RESTRICTION must be a JSON object"),
        ({"INPUT_CONFIG": "[1, 2]"}, "INPUT_CONFIG must be a JSON object"),
        ({"INPUT_FORMAT": "JSON"}, "INPUT_FORMAT='JSON' must be one of: RAW, AVRO"),
        ({"VALIDATION_RATE": "0.6", "TEST_RATE": "0.5"}, "VALIDATION_RATE + TEST_RATE"),
        ({"SEED": "-1"}, "SEED=-1 must be at least 0"),
        ({"FETCH_TIMEOUT": "0"}, "FETCH_TIMEOUT=0.0 must be at least 1"),
        ({"RESULT_URL": "ftp://backend"}, "RESULT_URL='ftp://backend' must be an http"),
        ({"ETH_RPC_URL": ""}, "ETH_RPC_URL='' must be an http(s):// or ws(s):// URL"),
        ({"ETH_CHAIN_ID": ""}, "ETH_CHAIN_ID is required in blockchain mode"),
        ({"ETH_CONTRACT_ADDRESS": "0x1234"}, "ETH_CONTRACT_ADDRESS='0x1234' is not"),
        ({"ETH_CONTRACT_ADDRESS": ""}, "ETH_CONTRACT_ADDRESS is required in blockchain mode"),
        ({"CLIENT_SAMPLE_CEILINGS": '{"client-1": 5}'}, "names 'client-1', not a 0x-prefixed"),
        ({"CLIENT_SAMPLE_CEILINGS": f'{{"{CLIENT}": 0}}'}, "must be an integer in 1..2^32-1"),
        ({"CLIENT_SAMPLE_CEILINGS": "[1]"}, "CLIENT_SAMPLE_CEILINGS must be a JSON object"),
        ({"SAMPLE_WEIGHTING": "by-vibes"}, "SAMPLE_WEIGHTING='by-vibes' must be one of"),
        ({"REWARD_BUDGET": "-1"}, "REWARD_BUDGET"),
        ({"ETH_WALLET_ADDRESS": CONTRACT}, "is not the address of the key"),
        ({"ETH_WALLET_KEY_FILE": "/nonexistent/key"}, "ETH_WALLET_KEY_FILE='/nonexistent/key' cannot be read"),
    ],
)
def test_bad_aggregator_environments(aggregator_env: dict[str, str], changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_aggregator_settings({**aggregator_env, **changes})
    assert message in str(caught.value)


@pytest.mark.parametrize("name, message", [
    ("lambda.json", "'Lambda' (module 'keras.layers') at sequential/spy is not allowed"),
    ("huge.json", "is 4194305 bytes, more than 4194304 allowed"),
])
def test_a_model_file_outside_the_allow_list_or_too_large_is_refused(tmp_path: Path, aggregator_env: dict[str, str],
                                                                     name: str, message: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_ARCHITECTURE_FILE=") as caught:
        load_aggregator_settings({**aggregator_env, "MODEL_ARCHITECTURE_FILE": str(tmp_path / name)})
    assert message in str(caught.value)


def test_trainer_requires_its_own_variables(trainer_env: dict[str, str]) -> None:
    env = {key: value for key, value in trainer_env.items()
           if key not in ("DATA_BOOTSTRAP_SERVERS", "ETH_CONTRACT_ADDRESS", "FEDERATED_CLIENT_ID")}
    with pytest.raises(ConfigError) as caught:
        load_trainer_settings(env)
    for name in ("FEDERATED_CLIENT_ID is required", "DATA_BOOTSTRAP_SERVERS is required",
                 "ETH_CONTRACT_ADDRESS is required"):
        assert name in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_trainer_settings({**trainer_env, "ETH_TOKEN_ADDRESS": ""})
    for name in ("ETH_TOKEN_ADDRESS is required",):
        assert name in str(caught.value)


def test_a_bad_key_is_reported_without_its_value(trainer_env: dict[str, str], tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("0xnot-a-key-but-secret-anyway")
    with pytest.raises(ConfigError) as caught:
        load_trainer_settings({**trainer_env, "ETH_WALLET_KEY_FILE": str(bad_key)})
    assert "not a valid private key" in str(caught.value) and "secret-anyway" not in str(caught.value)


def test_kafkaml_config_lists_the_job_variables() -> None:
    output = subprocess.run([sys.executable, "-m", "kafkaml.cli", "config"], capture_output=True, text=True,
                            check=True).stdout
    for name in ("AGG_STRATEGY_PARAMS", "KML_CLOUD_BOOTSTRAP_SERVERS", "ETH_WALLET_KEY_FILE", "REWARD_BASE"):
        assert name in output
