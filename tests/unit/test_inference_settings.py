"""The inference worker's environment: every name :class:`InferenceJob` sends is one the worker
declares, what it sends loads back, and a bad environment is refused with every reason at once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from inference_worker.settings import DEFAULT_BATCH, DEFAULT_BATCH_WAIT_MS, INFERENCE, load_job
from kafkaml.codecs import RawSampleCodec
from kafkaml.config import ConfigError
from kafkaml.jobs import InferenceJob

JOB = InferenceJob(
    result_id=7, bootstrap_servers="127.0.0.1:9092", input_topic="in", output_topic="out", error_topic="err",
    group_id="inference-7", input_format="RAW", input_config={"data_type": "float32", "data_reshape": "2 3"},
    model_sha256="ab" * 32, model_file="/models/result-7.keras",
)


def test_every_name_the_contract_sends_is_declared_by_the_worker() -> None:
    declared = {setting.name for setting in INFERENCE.settings}
    assert InferenceJob.variables() - declared == set()
    assert declared - InferenceJob.variables() == {"INFERENCE_TOKEN_FILE"}  # a secret file, never a field


def test_a_job_loads_back_with_the_worker_defaults() -> None:
    job, codec = load_job(JOB.environment())
    assert job == replace(JOB, batch=DEFAULT_BATCH, batch_wait_ms=DEFAULT_BATCH_WAIT_MS)
    assert isinstance(codec, RawSampleCodec) and codec.shape == (2, 3)
    full = replace(JOB, model_file=None, model_url="http://platform/api/results/7/model/", batch=8, batch_wait_ms=5,
                   output_bootstrap_servers="127.0.0.1:9093")
    environment = full.environment() | {"INFERENCE_TOKEN_FILE": "/run/token"}
    assert load_job(environment)[0] == full


@pytest.mark.parametrize(("change", "reasons"), [
    ({"model_file": None}, ["exactly one of MODEL_URL and MODEL_FILE"]),
    ({"model_url": "http://platform/model/"}, ["exactly one of MODEL_URL and MODEL_FILE"]),
    ({"model_file": None, "model_url": "http://platform/model/"}, ["MODEL_URL needs INFERENCE_TOKEN_FILE"]),
    ({"model_sha256": "AB" * 32, "output_topic": "in"},
     ["MODEL_SHA256 must be 64 lower-case hex digits", "must be three different topics"]),
    ({"error_topic": "bad topic"}, ["ERROR_TOPIC: 'bad topic' is not a valid topic name"]),
    ({"input_config": {"data_type": "float32", "data_reshape": [0]}},
     ["INPUT_CONFIG: input config data_reshape: dimensions must be positive"]),
])
def test_a_bad_environment_is_refused_with_every_reason(change, reasons) -> None:
    with pytest.raises(ConfigError) as refused:
        load_job(replace(JOB, **change).environment())
    assert all(reason in str(refused.value) for reason in reasons), str(refused.value)


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("BATCH", "0", "BATCH=0 must be at least 1"),
    ("BATCH", "4097", "BATCH=4097 must be at most 4096"),
    ("BATCH_WAIT_MS", "soon", "BATCH_WAIT_MS='soon' is not a valid int"),
    ("INPUT_FORMAT", "JSON", "INPUT_FORMAT='JSON' must be one of: RAW, AVRO"),
    ("INPUT_CONFIG", "{", "INPUT_CONFIG='{' is not a valid json"),
])
def test_each_variable_is_checked_by_its_declaration(name, value, reason) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_job(JOB.environment() | {name: value})


def test_a_missing_variable_is_named() -> None:
    environment = {name: value for name, value in JOB.environment().items() if name != "GROUP_ID"}
    with pytest.raises(ConfigError, match="GROUP_ID is required"):
        load_job(environment)
