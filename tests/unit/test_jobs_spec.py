"""JobSpec: a bad job description fails when it is built, naming the field, never quoting a key."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kafkaml.jobs import (
    LABEL_JOB,
    LABEL_OWNER,
    LABEL_PART_OF,
    LABEL_ROLE,
    LABEL_TRAINING,
    JobSpec,
    Resources,
    Role,
)
from kafkaml.jobs import SecretFile as Secret

KEY = "0x" + "ab" * 32


def spec(**changes: Any) -> JobSpec:
    fields = {"name": "agg-42", "role": "aggregator", "owner": "platform-backend", "training": "42",
              "image": "registry.example:5000/kafka-ml/worker:0.1.0", "module": "training_worker.aggregator"}
    return JobSpec(**{**fields, **changes})


def test_labels_say_what_the_job_is_for() -> None:
    job = spec(labels={"example.org/tier": "gold"})
    assert job.role is Role.AGGREGATOR
    assert job.all_labels == {LABEL_PART_OF: "kafka-ml", LABEL_ROLE: "aggregator", LABEL_OWNER: "platform-backend",
                              LABEL_TRAINING: "42", LABEL_JOB: "agg-42", "example.org/tier": "gold"}


def test_program_is_a_module_or_a_command() -> None:
    assert spec().argv() == ["python", "-m", "training_worker.aggregator"]
    assert spec().argv("/venv/bin/python")[0] == "/venv/bin/python"
    assert spec(module="", command=["kafkaml", "audit"]).argv() == ["kafkaml", "audit"]


def test_secret_files_become_file_variables() -> None:
    job = spec(secret_files={"ETH_WALLET_KEY": Secret("training-42", "key", "/var/run/secrets/kml/wallet/key")})
    assert job.secret_environment({"ETH_WALLET_KEY": "/x/key"}) == {"ETH_WALLET_KEY_FILE": "/x/key"}


def test_the_callers_dicts_cannot_change_the_spec_after_it_was_checked() -> None:
    environment = {"EPOCHS": "1"}
    job = spec(environment=environment)
    environment["ETH_WALLET_KEY"] = KEY
    assert job.environment == {"EPOCHS": "1"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.name = "other"  # type: ignore[misc]
    assert dataclasses.asdict(job)["environment"] == {"EPOCHS": "1"}  # plain data: storable, copyable


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Agg_42"}, "job name 'Agg_42' must be a DNS-1123 label"),
        ({"name": "a" * 64}, "must be a DNS-1123 label"),
        ({"role": "miner"}, "'miner' is not a valid Role"),
        ({"command": ["sh"]}, "give exactly one of module and command"),
        ({"module": ""}, "give exactly one of module and command"),
        ({"module": "training_worker/aggregator"}, "is not a dotted Python module name"),
        ({"module": "", "command": ["sh", ""]}, "command parts must be non-empty strings"),
        ({"image": "kafka-ml/worker"}, "must name a fixed tag or digest"),
        ({"image": "kafka-ml/worker:latest"}, "must name a fixed tag or digest"),
        ({"image": "registry:5000/worker"}, "must name a fixed tag or digest"),
        ({"owner": ""}, "owner and training are required"),
        ({"training": "42,app.kubernetes.io/part-of=other"}, "label 'kafka-ml/training': value"),
        ({"training": "x" * 64}, "label 'kafka-ml/training': value"),
        ({"labels": {"bad key!": "v"}}, "label key 'bad key!'"),
        ({"labels": {"Example.org/tier": "v"}}, "label prefix of 'Example.org/tier'"),
        ({"labels": {LABEL_TRAINING: "43"}}, "are set by the launcher"),
        ({"service_account": "Job_Runner"}, "service account"),
        ({"environment": {"1EPOCHS": "1"}}, "environment variable name '1EPOCHS'"),
        ({"environment": {"EPOCHS": 1}}, "EPOCHS must be a string"),
        ({"environment": {"ETH_WALLET_KEY": KEY}}, "ETH_WALLET_KEY holds what looks like a private key"),
        ({"environment": {"ARGS": f'{{"key": "{KEY}"}}'}}, "ARGS holds what looks like a private key"),
        ({"environment": {"ETH_WALLET_KEY": "ab" * 32}}, "ETH_WALLET_KEY holds what looks like a private key"),
        # a *_SHA256 variable may hold a digest, only that: lower-case hex, nothing around it
        ({"environment": {"DATASOURCE_SHA256": "AB" * 32}}, "DATASOURCE_SHA256 holds what looks like a private key"),
        ({"environment": {"DATASOURCE_SHA256": "0x" + "ab" * 32}}, "DATASOURCE_SHA256 holds what looks like"),
        ({"secret_files": {"ETH_WALLET_KEY": ("s", "key", "/run/s/key")}}, "must be a SecretFile"),
        ({"secret_files": {"ETH_WALLET_KEY": Secret("s", "key", "/run/s/key")},
          "environment": {"ETH_WALLET_KEY_FILE": "/elsewhere"}}, "set in the environment and as a secret file"),
        ({"secret_files": {"A": Secret("s", "a", "/run/s/a"), "B": Secret("t", "b", "/run/s/b")}},
         "each secret file needs a directory of its own"),
        ({"active_deadline_s": 0}, "active_deadline_s must be at least 1"),
        ({"backoff_limit": -1}, "backoff_limit must not be negative"),
        ({"ttl_after_finished_s": 3600}, "ttl_after_finished_s must be at least 86400"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
        spec(**changes)
    assert KEY not in str(error.value) and "ab" * 32 not in str(error.value)


def test_a_digest_pins_data_under_a_sha256_name() -> None:
    assert spec(environment={"DATASOURCE_SHA256": "ab" * 32}).environment["DATASOURCE_SHA256"] == "ab" * 32


def test_hashes_that_are_not_keys_are_allowed_beside_other_text() -> None:
    digest = "sha256:" + "ab" * 31  # 62 hex digits: not key-shaped
    assert spec(environment={"MODEL_SHA": digest}).environment["MODEL_SHA"] == digest


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (("Wallet", "key", "/run/w/key"), "secret name 'Wallet'"),
        (("wallet", "k/ey", "/run/w/key"), "secret key 'k/ey'"),
        (("wallet", "key", "run/w/key"), "must be an absolute, normalised path"),
        (("wallet", "key", "/run/w/../key"), "must be an absolute, normalised path"),
        (("wallet", "key", "/key"), "in a directory of its own"),
        (("wallet", "key", "/tmp/w/key"), "must not be under /tmp"),
    ],
)
def test_bad_secret_files_are_refused(secret: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Secret(*secret)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"cpu_request": "lots"}, "cpu request 'lots' is not a Kubernetes quantity"),
        ({"memory_limit": "2GB"}, "memory limit '2GB' is not a Kubernetes quantity"),
        ({"cpu_request": "3", "cpu_limit": "2500m"}, "cpu request 3 exceeds its limit 2500m"),
        ({"memory_request": "3Gi", "memory_limit": "3G"}, "memory request 3Gi exceeds its limit 3G"),
    ],
)
def test_resources_are_kubernetes_quantities_within_their_limits(resources: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Resources(**resources)


def test_a_service_has_bounded_replicas_named_after_it_and_no_deadline() -> None:
    service = spec(role="inference", name="inference-7", replicas=2)
    assert service.instances() == {
        "inference-7-0": {**service.all_labels, "kafka-ml/replica": "0"},
        "inference-7-1": {**service.all_labels, "kafka-ml/replica": "1"}}
    assert spec().instances() == {"agg-42": spec().all_labels}  # a job is itself
    for replicas in (0, 33, True):
        with pytest.raises(ValueError, match="replicas must be 1 to 32"):
            spec(replicas=replicas)
    with pytest.raises(ValueError, match="no active deadline"):
        spec(replicas=1, active_deadline_s=60)
    with pytest.raises(ValueError, match="replica name"):
        spec(name="x" * 62, replicas=2)  # x…x-0 is longer than a DNS label
    with pytest.raises(ValueError, match="set by the launcher"):
        spec(labels={"kafka-ml/replica": "0"})
