"""The jobs' contract: what a service tells an aggregator, a trainer or an inference job, typed.

The platform backend, the federated backend and ``kafkaml train`` each start jobs, and
the jobs read only their environment. Each of them builds an :class:`AggregatorJob`, a
:class:`TrainerJob`, a :class:`SingleTrainingJob` or an :class:`InferenceJob` and launches it with :meth:`~AggregatorJob.environment`, the one code that
spells the variables' names: a name changed here changes for every service at once, and a service
cannot send a variable the jobs do not know. The jobs' side declares, documents and validates the
same names (``training_worker/settings.py``, listed by ``kafkaml config``);
``tests/unit/test_job_contract.py`` holds both sides to each other and
``tests/unit/test_job_environment_writers.py`` keeps every other module from writing them.

Each field carries the name of its variable. A value is sent as text: numbers with ``str``, dicts
as JSON, a nested object as its own variables; a value left at its default (None for the
optional ones) is not sent, so the job applies its own default. Secrets are never fields: a
service mounts them as files (``<NAME>_FILE``), except the local key files ``kafkaml train``
names itself (``wallet_key_file``). :meth:`~AggregatorJob.from_environ` is the inverse of
``environment()``, which the tests hold it to.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkaml.heterogeneity import Heterogeneity
from kafkaml.jobs.spec import JobSpec, Role
from kafkaml.settings_hash import settings_hash

#: The names of classes defined outside the contract that a job carries as several variables.
_FOREIGN_NAMES: dict[type, dict[str, str]] = {
    Heterogeneity: {"slowdown": "SIMULATED_SLOWDOWN", "dropout_after": "SIMULATED_DROPOUT_AFTER",
                    "dropout_s": "SIMULATED_DROPOUT_S"},
}


def _var(name: str, **kwargs: Any) -> Any:
    """A field sent as the variable ``name``."""
    return field(metadata={"variable": name}, **kwargs)


def _nested(**kwargs: Any) -> Any:
    """A field sent as the variables of its own class."""
    return field(metadata={"nested": True}, **kwargs)


@dataclass(frozen=True)
class ChainAccess:
    """How a job reaches its training on chain (blockchain mode); its key comes as a file."""

    rpc_url: str = _var("ETH_RPC_URL")
    chain_id: int = _var("ETH_CHAIN_ID")
    contract_address: str = _var("ETH_CONTRACT_ADDRESS")
    #: The platform's reward token: the trainer trusts only trainings its factory created.
    token_address: str | None = _var("ETH_TOKEN_ADDRESS", default=None)


class _Contract:
    """``environment()`` and ``from_environ()`` from the fields' variable names, and the job
    description a launcher runs (:meth:`to_spec`)."""

    #: The program that reads this kind of job, and its role (each kind sets both).
    MODULE: typing.ClassVar[str]
    ROLE: typing.ClassVar[Role]

    def to_spec(self, **placement: Any) -> JobSpec:
        """This job as a launcher runs it: its program, role and environment, placed by the
        caller (``name``, ``owner``, ``training``, ``image``, ``secret_files``, ...)."""
        return JobSpec(role=self.ROLE, module=self.MODULE, environment=self.environment(), **placement)

    def environment(self) -> dict[str, str]:
        """The job's environment: every set value as text under its variable's name."""
        return _encode(self)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> typing.Self:
        """The job an environment written by :meth:`environment` describes (other variables are ignored)."""
        return _decode(cls, environ)

    @classmethod
    def variables(cls) -> frozenset[str]:
        """Every name :meth:`environment` can send."""
        return frozenset(_variables(cls))


@dataclass(frozen=True)
class AggregatorJob(_Contract):
    """What the platform tells its aggregator job; the optional fields are what only one
    launcher sets (the backend reports to its API, ``kafkaml train`` to files)."""

    MODULE = "training_worker.aggregator"
    ROLE = Role.AGGREGATOR

    coordination: str = _var("COORDINATION")
    bootstrap_servers: str = _var("BOOTSTRAP_SERVERS")
    federated_id: str = _var("FEDERATED_STRING_ID")
    rounds: int = _var("AGGREGATION_ROUNDS")
    strategy: str = _var("AGG_STRATEGY")
    strategy_params: dict[str, Any] = _var("AGG_STRATEGY_PARAMS")
    epochs: int = _var("EPOCHS")
    batch: int = _var("BATCH")
    reward_policy: str = _var("REWARD_POLICY")
    reject_ratio: float = _var("REWARD_REJECT_RATIO")
    sample_weighting: str = _var("SAMPLE_WEIGHTING")
    #: The clients the platform matched (addresses or client ids) → their sample ceilings.
    client_ceilings: dict[str, int] = _var("CLIENT_SAMPLE_CEILINGS")
    #: The platform's validation datasource, described on ``data_control_topic``.
    datasource_id: str = _var("DATASOURCE_ID")
    data_control_topic: str = _var("DATA_CONTROL_TOPIC")
    model_logger_topic: str = _var("MODEL_LOGGER_TOPIC")
    results_dir: str = _var("RESULTS_DIR")
    poll_interval_s: float = _var("POLL_INTERVAL")
    fit_kwargs: dict[str, Any] | None = _var("KWARGS_FIT", default=None)
    val_kwargs: dict[str, Any] | None = _var("KWARGS_VAL", default=None)
    min_data: int | None = _var("MIN_DATA", default=None)
    data_restriction: dict[str, Any] | None = _var("DATA_RESTRICTION", default=None)
    #: Decimal token amounts, sent as written (they are hashed as text).
    reward_base: str | None = _var("REWARD_BASE", default=None)
    reward_budget: str | None = _var("REWARD_BUDGET", default=None)
    #: Rejections after which a client is excluded (None: the job's default, never).
    exclude_after: int | None = _var("REWARD_EXCLUDE_AFTER", default=None)
    #: The very description the platform chose (its registered record): read alone and verified.
    datasource_sha256: str | None = _var("DATASOURCE_SHA256", default=None)
    datasource_partition: int | None = _var("DATASOURCE_PARTITION", default=None)
    datasource_offset: int | None = _var("DATASOURCE_OFFSET", default=None)
    data_bootstrap_servers: str | None = _var("DATA_BOOTSTRAP_SERVERS", default=None)
    deployment_id: int | None = _var("DEPLOYMENT_ID", default=None)
    result_url: str | None = _var("RESULT_URL", default=None)
    result_id: int | None = _var("RESULT_ID", default=None)
    seed: int | None = _var("SEED", default=None)
    stop_timeout_s: float | None = _var("STOP_TIMEOUT", default=None)
    #: Local runs only: a launcher in a cluster mounts the model and the key as Secret files.
    model_architecture_file: str | None = _var("MODEL_ARCHITECTURE_FILE", default=None)
    wallet_key_file: str | None = _var("ETH_WALLET_KEY_FILE", default=None)
    #: Blockchain mode, once the training exists on chain.
    chain: ChainAccess | None = _nested(default=None)

    def settings_hash(self, model: bytes) -> bytes:
        """The hash the training is created with on chain, which the aggregator recomputes from
        the environment it is launched with (:mod:`kafkaml.settings_hash`)."""
        return settings_hash(self.environment(), model)


@dataclass(frozen=True)
class TrainerJob(_Contract):
    """What a federated client tells its trainer job."""

    MODULE = "training_worker.trainer"
    ROLE = Role.TRAINER

    coordination: str = _var("COORDINATION")
    platform_bootstrap_servers: str = _var("KML_CLOUD_BOOTSTRAP_SERVERS")
    federated_id: str = _var("FEDERATED_MODEL_ID")
    client_id: str = _var("FEDERATED_CLIENT_ID")
    model_logger_topic: str = _var("MODEL_LOGGER_TOPIC")
    data_bootstrap_servers: str = _var("DATA_BOOTSTRAP_SERVERS")
    #: The client's own datasource, described on ``data_control_topic``.
    datasource_id: str = _var("DATASOURCE_ID")
    data_control_topic: str = _var("DATA_CONTROL_TOPIC")
    results_dir: str = _var("RESULTS_DIR")
    poll_interval_s: float = _var("POLL_INTERVAL")
    #: The very description the client's service matched (its registered record): read alone and verified.
    datasource_sha256: str | None = _var("DATASOURCE_SHA256", default=None)
    datasource_partition: int | None = _var("DATASOURCE_PARTITION", default=None)
    datasource_offset: int | None = _var("DATASOURCE_OFFSET", default=None)
    #: The very announcement record the launcher chose: the trainer reads it alone and verifies
    #: it (SHA-256, then the coordinator's trust) instead of taking the newest of the model's id.
    announcement_partition: int | None = _var("ANNOUNCEMENT_PARTITION", default=None)
    announcement_offset: int | None = _var("ANNOUNCEMENT_OFFSET", default=None)
    announcement_sha256: str | None = _var("ANNOUNCEMENT_SHA256", default=None)
    seed: int | None = _var("SEED", default=None)
    stop_timeout_s: float | None = _var("STOP_TIMEOUT", default=None)
    #: Local runs only: a launcher in a cluster mounts the key as a Secret file.
    wallet_key_file: str | None = _var("ETH_WALLET_KEY_FILE", default=None)
    #: Classic mode: the address whose signature the model announcement must carry.
    platform_signer: str | None = _var("PLATFORM_SIGNER_ADDRESS", default=None)
    chain: ChainAccess | None = _nested(default=None)
    #: Benchmarks and tests only: a simulated slower or intermittent client.
    heterogeneity: Heterogeneity = _nested(default=Heterogeneity())



@dataclass(frozen=True)
class SingleTrainingJob(_Contract):
    """What the platform tells a single (not federated) training job: train the model on one of its
    datasources, pinned as the aggregator's validation datasource is, and report each epoch (each
    increment when ``incremental``) and the final model to the result, as an aggregator does."""

    MODULE = "training_worker.single"
    ROLE = Role.SINGLE

    data_bootstrap_servers: str = _var("DATA_BOOTSTRAP_SERVERS")
    datasource_id: str = _var("DATASOURCE_ID")
    data_control_topic: str = _var("DATA_CONTROL_TOPIC")
    datasource_sha256: str = _var("DATASOURCE_SHA256")
    datasource_partition: int = _var("DATASOURCE_PARTITION")
    datasource_offset: int = _var("DATASOURCE_OFFSET")
    epochs: int = _var("EPOCHS")
    batch: int = _var("BATCH")
    results_dir: str = _var("RESULTS_DIR")
    fit_kwargs: dict[str, Any] | None = _var("KWARGS_FIT", default=None)
    val_kwargs: dict[str, Any] | None = _var("KWARGS_VAL", default=None)
    result_url: str | None = _var("RESULT_URL", default=None)
    result_id: int | None = _var("RESULT_ID", default=None)
    seed: int | None = _var("SEED", default=None)
    incremental: bool = _var("INCREMENTAL", default=False)
    stream_timeout_s: float | None = _var("STREAM_TIMEOUT", default=None)
    window: int | None = _var("WINDOW_SIZE", default=None)
    monitor_metric: str | None = _var("MONITOR_METRIC", default=None)
    monitor_mode: str | None = _var("MONITOR_MODE", default=None)
    improvement: float | None = _var("IMPROVEMENT", default=None)
    #: Local runs only: a launcher in a cluster mounts the model as a Secret file.
    model_architecture_file: str | None = _var("MODEL_ARCHITECTURE_FILE", default=None)


@dataclass(frozen=True)
class InferenceJob(_Contract):
    """What the platform tells an inference worker: where samples arrive, where predictions go,
    and which trained model answers them, pinned by its SHA-256 (the worker refuses any other).

    The worker is long-running and may run as several replicas of one consumer group, which
    share the input topic's partitions. The variable names are the earlier Kafka-ML's where it
    had one (``INPUT_FORMAT``, ``INPUT_CONFIG``, ``INPUT_TOPIC``, ``OUTPUT_TOPIC``); its users'
    input configurations keep working.
    """

    MODULE = "inference_worker"
    ROLE = Role.INFERENCE

    result_id: int = _var("RESULT_ID")
    bootstrap_servers: str = _var("BOOTSTRAP_SERVERS")
    input_topic: str = _var("INPUT_TOPIC")
    output_topic: str = _var("OUTPUT_TOPIC")
    #: Records that are not a sample of the declared shape and type, answered with the reason.
    error_topic: str = _var("ERROR_TOPIC")
    group_id: str = _var("GROUP_ID")
    #: ``RAW`` or ``AVRO``, and what one sample is (``kafkaml.codecs.sample_codec`` checks both).
    input_format: str = _var("INPUT_FORMAT")
    input_config: dict[str, Any] = _var("INPUT_CONFIG")
    model_sha256: str = _var("MODEL_SHA256")
    #: Where the worker fetches the model: the backend's download (its token comes as the
    #: secret file ``INFERENCE_TOKEN_FILE``), or a file in local runs.
    model_url: str | None = _var("MODEL_URL", default=None)
    model_file: str | None = _var("MODEL_FILE", default=None)
    #: Predictions may go to another cluster than the samples come from.
    output_bootstrap_servers: str | None = _var("OUTPUT_BOOTSTRAP_SERVERS", default=None)
    batch: int | None = _var("BATCH", default=None)
    batch_wait_ms: int | None = _var("BATCH_WAIT_MS", default=None)


def _names(cls: type) -> dict[str, str]:
    """Field name → variable name, for the scalar fields of ``cls``."""
    if cls in _FOREIGN_NAMES:
        return _FOREIGN_NAMES[cls]
    return {f.name: f.metadata["variable"] for f in dataclasses.fields(cls) if "variable" in f.metadata}


def _nested_types(cls: type) -> dict[str, type]:
    """Field name → class, for the fields sent as several variables."""
    hints = typing.get_type_hints(cls)
    return {f.name: _base(hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("nested")}


def _variables(cls: type) -> list[str]:
    return [*_names(cls).values(), *(name for nested in _nested_types(cls).values() for name in _variables(nested))]


def _base(hint: Any) -> type:
    """``int`` for ``int | None``, ``dict`` for ``dict[str, int]``."""
    if isinstance(hint, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return typing.get_origin(hint) or hint


def _encode(value: Any) -> dict[str, str]:
    environment: dict[str, str] = {}
    names, nested = _names(type(value)), _nested_types(type(value))
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if f.default is not dataclasses.MISSING and item == f.default:
            continue  # the job's own default applies
        if f.name in nested:
            environment.update(_encode(item))
        else:
            environment[names[f.name]] = json.dumps(item) if isinstance(item, dict) else str(item)
    return environment


def _decode(cls: type, environ: Mapping[str, str]) -> Any:
    hints, names, nested = typing.get_type_hints(cls), _names(cls), _nested_types(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in nested:
            if any(name in environ for name in _variables(nested[f.name])):
                values[f.name] = _decode(nested[f.name], environ)
        elif names[f.name] in environ:
            kind, raw = _base(hints[f.name]), environ[names[f.name]]
            values[f.name] = json.loads(raw) if kind is dict else raw == "True" if kind is bool else kind(raw)
        elif f.default is dataclasses.MISSING:
            raise ValueError(f"{names[f.name]} is not set: the environment does not describe a {cls.__name__}")
    return cls(**values)
