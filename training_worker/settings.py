"""The environment of the training jobs, as the jobs read it. The services that launch them
(the backends, ``kafkaml train``) write it with one module, :mod:`kafkaml.jobs.contract`
(``AggregatorJob``, ``TrainerJob``, ``SingleTrainingJob``); ``tests/unit/test_job_contract.py`` checks that each name it
writes is declared here, in a group the job reads.

Names the earlier Kafka-ML's users have scripts for are kept (BOOTSTRAP_SERVERS, KWARGS_FIT,
AGG_STRATEGY, ...). Every variable is declared here, with its default and meaning, so ``kafkaml
config`` lists them; :func:`load_aggregator_settings` and :func:`load_trainer_settings` validate a
whole environment at start and report every bad variable at once, by name, instead of failing
in the middle of a training. The private key is read with ``read_secret`` (a mounted Secret
file) and never shown by ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafkaml.architecture import MAX_DESCRIPTION_BYTES, ArchitectureError, BuiltModel
from kafkaml.config import ConfigError, Setting, SettingGroup, declare, read_secret
from kafkaml.control_topics import RecordPin
from kafkaml.heterogeneity import MAX_DROPOUT_S, MAX_SLOWDOWN, Heterogeneity
from kafkaml.messages.kinds import FORMATS
from kafkaml.model_source import parse_kwargs
from kafkaml.rewards import DEFAULT_BASE, POLICIES, RewardPolicy, parse_token_amount, reward_budget
from kafkaml.strategies import STRATEGIES, Strategy, StrategyError, make_strategy
from kafkaml.topics import DATA_CONTROL_TOPIC, MODEL_CONTROL_TOPIC

JOBS = declare(
    "Training jobs (aggregator and trainer)",
    Setting("COORDINATION", "How clients and platform coordinate: `blockchain` (the contract) or `classic` "
            "(Kafka control topics, as the earlier Kafka-ML).", default="blockchain", choices=("blockchain", "classic")),
    Setting("RESULT_URL", "The backend's URL of this job's training result: reports are POSTed to "
            "<RESULT_URL>reports/ and the final model PUT to <RESULT_URL>model/; empty: write JSON "
            "files to RESULTS_DIR instead.", default=""),
    Setting("RESULT_ID", "Id of the backend's training result this job reports to.", default=""),
    Setting("RESULT_DELIVERY_TIMEOUT", "Seconds a finishing job keeps re-sending the reports its backend did "
            "not take (they stay spooled in RESULTS_DIR after that).", kind="float", default=120.0, minimum=0),
    Setting("RESULT_TOKEN_FILE", "File holding the job token that lets this job report to its one training "
            "result (a mounted Secret; sent as `Authorization: Job <token>`).", kind="path", default=None),
    Setting("MODEL_LOGGER_TOPIC", "Platform topic on which models are announced to clients.",
            default=MODEL_CONTROL_TOPIC),
    Setting("RESULTS_DIR", "Directory for progress.jsonl and final.json (file mode, and the spool when the "
            "backend is unreachable).", kind="path", default=Path("kafkaml-results")),
    Setting("BATCH", "Batch size for training and evaluation (default 32, or KWARGS_FIT's batch_size).",
            kind="int", default=None, minimum=1),
    Setting("EPOCHS", "Local epochs per round (default 1, or KWARGS_FIT's epochs).", kind="int", default=None,
            minimum=1),
    Setting("KWARGS_FIT", 'Extra model.fit arguments: JSON ({"shuffle": true}) or the earlier `shuffle=True` '
            "form; literals only, allowed keys only.", default=""),
    Setting("KWARGS_VAL", "Extra model.evaluate arguments, same forms as KWARGS_FIT.", default=""),
    Setting("STOP_TIMEOUT", "Seconds without progress (aggregator: no new update; trainer: no new global "
            "version) after which the job stops cleanly; 0 waits forever.", kind="float", default=600.0, minimum=0),
    Setting("POLL_INTERVAL", "Seconds between polls of the chain or control topic when idle (never a busy loop).",
            kind="float", default=1.0, minimum=0.05, maximum=60),
    Setting("START_TIMEOUT", "Seconds to wait at start for what the job needs to exist (model announcement, "
            "datasource description, first global version).", kind="float", default=120.0, minimum=0),
    Setting("FETCH_TIMEOUT", "Seconds to wait for a weights payload to be readable in Kafka.", kind="float",
            default=60.0, minimum=1),
    Setting("SEED", "Seed of model initialisation and data shuffling, for reproducible runs.", kind="int",
            default=0, minimum=0),
)

STREAM = declare(
    "Training jobs: data stream (aggregator: its validation stream; trainer: the local training stream)",
    Setting("DATA_BOOTSTRAP_SERVERS", "Kafka bootstrap of the data stream (aggregator default: BOOTSTRAP_SERVERS).",
            default=""),
    Setting("DATA_CONTROL_TOPIC", "Topic on which datasources are described (data control messages).",
            default=DATA_CONTROL_TOPIC),
    Setting("DATASOURCE_ID", "Datasource described on DATA_CONTROL_TOPIC to use; when set, the stream's topic, "
            "format and rates come from its description.", default=""),
    Setting("DATASOURCE_SHA256", "SHA-256 of the very description of DATASOURCE_ID the service chose (its "
            "registered record): the job uses that one, not a later description of the same id. Empty: the "
            "newest description.", default=""),
    Setting("DATASOURCE_OFFSET", "Offset on DATA_CONTROL_TOPIC of the description DATASOURCE_SHA256 names (the "
            "registered record's place): the job reads that record alone and checks its SHA-256 instead of scanning "
            "the topic. Unset: the topic is scanned for it.", kind="int", default=None, minimum=0),
    Setting("DATASOURCE_PARTITION", "Partition of DATA_CONTROL_TOPIC holding DATASOURCE_OFFSET.", kind="int",
            default=0, minimum=0),
    Setting("DATA_TOPIC", "Topic of the data stream, or the earlier `topic:partition:start:end` ranges "
            "(required unless DATASOURCE_ID is set).", default=""),
    # Only the encodings a stream reader decodes (kafkaml.messages.kinds.FORMATS); the earlier Kafka-ML's
    # JSON is refused at start rather than failing on the first sample.
    Setting("INPUT_FORMAT", "Encoding of the samples.", default="RAW", choices=FORMATS),
    Setting("INPUT_CONFIG", "JSON decoding settings of INPUT_FORMAT (RAW: data_type, label_type, data_reshape, "
            "label_reshape; AVRO: data_scheme, label_scheme).", kind="json", default={}),
    Setting("VALIDATION_RATE", "Fraction of the stream held out for validation.", kind="float", default=0.1,
            minimum=0, maximum=0.9),
    Setting("TEST_RATE", "Fraction of the stream held out for the final test metrics.", kind="float",
            default=0.0, minimum=0, maximum=0.9),
    Setting("TOTAL_MSG", "Number of messages of the stream to use; 0: all of them.", kind="int", default=0,
            minimum=0),
)

CHAIN = declare(
    "Training jobs: blockchain coordination (only read when COORDINATION=blockchain)",
    Setting("ETH_RPC_URL", "JSON-RPC URL of the Ethereum node (http(s):// or ws(s)://).", default=""),
    Setting("ETH_CHAIN_ID", "Chain id; transactions are signed for it (EIP-155).", kind="int", default=None,
            minimum=1),
    Setting("ETH_WALLET_KEY_FILE", "File holding this job's private key (a mounted Kubernetes Secret).",
            kind="path", default=None),
    Setting("ETH_WALLET_KEY", "The private key itself; local runs only, never in a manifest (use "
            "ETH_WALLET_KEY_FILE).", default="", secret=True),
    Setting("ETH_WALLET_ADDRESS", "Address of the key (optional; checked against the key when set).", default=""),
    Setting("ETH_CONTRACT_ADDRESS", "The training's contract, created by the platform before the jobs start "
            "(required in blockchain mode).", default=""),
    Setting("ETH_TOKEN_ADDRESS", "The platform's RewardToken: the trainer trusts a training (and its model "
            "announcement) only when the factory behind this token created it (required for the trainer in "
            "blockchain mode).", default=""),
    Setting("ETH_BLOCKSCOUT_URL", "Blockscout base URL for links to transactions in reports.", default=""),
)

AGGREGATOR = declare(
    "Aggregator job (platform)",
    Setting("BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform: global weights, model control topic."),
    Setting("DEPLOYMENT_ID", "Backend deployment this training belongs to (0 when not launched by it).",
            kind="int", default=0, minimum=0),
    Setting("FEDERATED_STRING_ID", "Unique id of this federated training; names its topics and announcement."),
    Setting("AGGREGATION_ROUNDS", "Number of new global versions to produce.", kind="int", default=10,
            minimum=1),
    Setting("MIN_DATA", "Minimum number of samples a client's datasource must hold to take part.", kind="int",
            default=0, minimum=0),
    Setting("AGG_STRATEGY", f"Aggregation strategy: {', '.join(STRATEGIES)} (case-insensitive).",
            default="fedasync"),
    Setting("AGG_STRATEGY_PARAMS", "JSON parameters of AGG_STRATEGY, see docs/training-engine.md.", kind="json",
            default={}),
    Setting("DATA_RESTRICTION", "JSON object a client's datasource restrictions must equal to match.",
            kind="json", default={}),
    Setting("CLIENT_SAMPLE_CEILINGS", 'JSON object {client: samples}: the clients the platform matched (addresses '
            "in blockchain mode, client ids in classic mode) with the size of the data each matched. Reported "
            "sample counts are capped to it; rewards are shared by it. Blockchain mode registers exactly these "
            "clients on the contract.", kind="json", default={}),
    Setting("SAMPLE_WEIGHTING", "How updates weigh in aggregation: capped (reported samples, capped to the "
            "client's ceiling) or equal (every update alike).", default="capped", choices=("capped", "equal")),
    Setting("REWARD_BUDGET", "Most tokens the training may ever credit (decimal; fixed on chain at creation); "
            "empty: REWARD_BASE x AGGREGATION_ROUNDS.", default=""),
    Setting("REWARD_POLICY", "How rewards are computed: improvement (measured loss reduction) or tiered "
            "(the earlier Kafka-ML rule).", default="improvement", choices=POLICIES),
    Setting("REWARD_BASE", "Tokens for a full improvement by the whole round's data (decimal, 18 decimals).",
            default=DEFAULT_BASE),
    Setting("REWARD_REJECT_RATIO", "Updates raising the validation loss above this ratio are rejected unless they "
                                   "measurably raise the validation accuracy (docs/training-engine.md, screening).",
            kind="float", default=1.5, minimum=1.0),
    Setting("REWARD_EXCLUDE_AFTER", "Exclude a client after this many rejected updates in the training (all reasons "
                                    "but unreadable): its later updates are rejected unread as excluded_client. "
                                    "0: never.", kind="int", default=0, minimum=0),
)

MODEL = declare(
    "Platform training jobs: the model (aggregator and single training)",
    Setting("MODEL_ARCHITECTURE_FILE", "File with the model as `python -m kafkaml.builder` printed it (Keras "
            "JSON architecture, compile configuration, weight shapes); the job never runs user code.",
            kind="path"),
)

SINGLE = declare(
    "Single training job (platform, not federated)",
    Setting("INCREMENTAL", "Keep training on the records that arrive after the datasource's ranges, window by "
            "window, instead of stopping after EPOCHS (docs/single-training.md).", kind="bool", default=False),
    Setting("STREAM_TIMEOUT", "Incremental: seconds without a new record after which the training ends; 0 trains "
            "indefinitely (until stopped).", kind="float", default=0.0, minimum=0),
    Setting("WINDOW_SIZE", "Incremental: records per increment (each is split by VALIDATION_RATE and trained "
            "for EPOCHS).", kind="int", default=1000, minimum=1),
    Setting("MONITOR_METRIC", "Incremental: the validation metric that decides whether an increment's model "
            "replaces the served one (e.g. val_loss, val_accuracy).", default="val_loss"),
    Setting("MONITOR_MODE", "Incremental: whether MONITOR_METRIC improves when it goes down (min) or up (max).",
            default="min", choices=("min", "max")),
    Setting("IMPROVEMENT", "Incremental: how much MONITOR_METRIC must improve on the served model's for a new "
            "version to replace it.", kind="float", default=0.0, minimum=0),
)

TRAINER = declare(
    "Trainer job (federated client)",
    Setting("KML_CLOUD_BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform: global weights in, updates out."),
    Setting("FEDERATED_MODEL_ID", "FEDERATED_STRING_ID of the announced model this client trains."),
    Setting("FEDERATED_CLIENT_ID", "This client's id, reported with its updates."),
    Setting("PLATFORM_SIGNER_ADDRESS", "Classic mode: the address whose signature a model announcement must carry "
            "to be trusted (the aggregator signs with its ETH_WALLET_KEY(_FILE)); required in classic mode.",
            default=""),
    Setting("ANNOUNCEMENT_OFFSET", "Offset on MODEL_LOGGER_TOPIC of the very announcement of FEDERATED_MODEL_ID the "
            "launcher chose (the record its client's service matched): the trainer reads that record alone, "
            "checks it against ANNOUNCEMENT_SHA256 and the coordinator's trust, and ignores any other "
            "announcement of the same id. Unset: the newest trusted announcement.", kind="int", default=None,
            minimum=0),
    Setting("ANNOUNCEMENT_PARTITION", "Partition of MODEL_LOGGER_TOPIC holding ANNOUNCEMENT_OFFSET.", kind="int",
            default=0, minimum=0),
    Setting("ANNOUNCEMENT_SHA256", "SHA-256 of the value of the record at ANNOUNCEMENT_OFFSET (64 lower-case hex "
            "digits; required with it): a different record there is refused.", default=""),
)

SIMULATED = declare(
    "Trainer job: simulated heterogeneity (benchmarks and tests only)",
    Setting("SIMULATED_SLOWDOWN", "Benchmarks and tests only, never set by the platform: after each local "
            "training the trainer waits (factor - 1) x the seconds it took before submitting, as a client with a "
            "factor-times slower processor would (kafkaml/heterogeneity.py); 1: no wait.", kind="float",
            default=1.0, minimum=1.0, maximum=MAX_SLOWDOWN),
    Setting("SIMULATED_DROPOUT_AFTER", "Benchmarks and tests only: after every this many submitted updates the "
            "trainer goes offline (no polling, no training) for SIMULATED_DROPOUT_S seconds, then resumes from the "
            "newest version; 0: never.", kind="int", default=0, minimum=0),
    Setting("SIMULATED_DROPOUT_S", "Benchmarks and tests only: seconds offline at each dropout (with "
            "SIMULATED_DROPOUT_AFTER).", kind="float", default=0.0, minimum=0.0, maximum=MAX_DROPOUT_S),
)


#: What each job reads: the names its launchers may send (kafkaml.jobs.contract) are among them.
AGGREGATOR_GROUPS = (JOBS, STREAM, CHAIN, MODEL, AGGREGATOR)
TRAINER_GROUPS = (JOBS, STREAM, CHAIN, TRAINER, SIMULATED)
SINGLE_GROUPS = (JOBS, STREAM, MODEL, SINGLE)


@dataclass(frozen=True)
class ResultsSettings:
    url: str
    result_id: str
    directory: Path
    token: str | None = field(default=None, repr=False)
    delivery_timeout_s: float = 120.0


@dataclass(frozen=True)
class TrainingSettings:
    """How local training and evaluation run; ``fit_kwargs`` exclude epochs and batch_size."""

    batch: int
    epochs: int
    fit_kwargs: dict[str, Any]
    val_kwargs: dict[str, Any]
    seed: int
    stop_timeout_s: float
    poll_interval_s: float
    start_timeout_s: float
    fetch_timeout_s: float


@dataclass(frozen=True)
class StreamSettings:
    """The data stream: described on ``control_topic`` as ``datasource_id``, or given directly."""

    bootstrap_servers: str
    control_topic: str
    datasource_id: str | None
    topic: str
    input_format: str
    input_config: dict[str, Any]
    validation_rate: float
    test_rate: float
    total_msg: int
    #: The description of ``datasource_id`` chosen (its record's SHA-256), or None: the newest.
    datasource_sha256: str | None = None
    #: Where that description is (with its SHA-256), or None: the topic is scanned for it.
    datasource_pin: RecordPin | None = None


@dataclass(frozen=True)
class ChainSettings:
    rpc_url: str
    chain_id: int
    wallet_address: str
    contract_address: str | None
    token_address: str | None
    blockscout_url: str
    private_key: str = field(repr=False)


@dataclass(frozen=True)
class AggregatorSettings:
    coordination: str
    bootstrap_servers: str
    deployment_id: int
    federated_id: str
    model_architecture_file: Path
    model: BuiltModel = field(repr=False)
    rounds: int
    min_data: int
    strategy: Strategy
    data_restriction: dict[str, Any]
    model_logger_topic: str
    client_ceilings: dict[str, int]
    reward_policy: RewardPolicy
    reward_budget: int
    settings_hash: bytes
    #: Classic mode: the key that signs the announcement (blockchain mode anchors it on chain).
    signing_key: str | None = field(repr=False)
    training: TrainingSettings
    stream: StreamSettings
    chain: ChainSettings | None
    results: ResultsSettings


@dataclass(frozen=True)
class IncrementalSettings:
    """How an incremental training takes new records and decides which model is served."""

    stream_timeout_s: float  # 0: indefinitely
    window: int
    monitor_metric: str
    monitor_mode: str  # "min" or "max"
    improvement: float

    def improves(self, candidate: float, served: float | None) -> bool:
        """Whether a new version measuring ``candidate`` replaces one measuring ``served``."""
        if served is None:
            return True
        gain = served - candidate if self.monitor_mode == "min" else candidate - served
        return gain > self.improvement


@dataclass(frozen=True)
class SingleSettings:
    result_id: str
    model: BuiltModel = field(repr=False)
    training: TrainingSettings
    stream: StreamSettings
    results: ResultsSettings
    #: None: a single training of EPOCHS over the datasource's ranges.
    incremental: IncrementalSettings | None = None


@dataclass(frozen=True)
class TrainerSettings:
    coordination: str
    platform_bootstrap_servers: str
    federated_id: str
    client_id: str
    model_logger_topic: str
    platform_signer: str | None
    training: TrainingSettings
    stream: StreamSettings
    chain: ChainSettings | None
    results: ResultsSettings
    #: Benchmarks and tests only (SIMULATED_*): a slower or intermittent client.
    heterogeneity: Heterogeneity = Heterogeneity()
    #: The one announcement to train on (ANNOUNCEMENT_*), or None: the newest trusted one.
    announcement_pin: RecordPin | None = None


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")  # as the registries store a record's digest
_NAMED = re.compile(r"[A-Z][A-Z_]+\b")  # a message that already starts with a variable name


class _Reader:
    """Loads groups and derived values, collecting every error so one message lists them all."""

    def __init__(self, title: str, environ: Mapping[str, str] | None) -> None:
        self.title = title
        self.environ = os.environ if environ is None else environ
        self.errors: list[str] = []

    def load(self, *groups: SettingGroup) -> dict[str, Any]:
        """Every variable that parses; the others are recorded and left out."""
        values: dict[str, Any] = {}
        for setting in (setting for group in groups for setting in group.settings):
            try:
                values[setting.name] = setting.read(self.environ)
            except ConfigError as exc:
                self.errors.append(str(exc))
        return values

    def derive(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, or None with the error recorded under the variable ``name``.

        A KeyError means an input variable was already reported as bad: nothing more to add.
        """
        try:
            return make()
        except KeyError:
            if not self.errors:
                raise
            return None
        except (ConfigError, ValueError) as exc:
            message = str(exc)
            self.errors.append(message if _NAMED.match(message) else f"{name}: {message}")
            return None

    def check(self) -> None:
        if self.errors:
            raise ConfigError(f"{self.title}: " + "; ".join(self.errors))


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _training(reader: _Reader, values: dict[str, Any]) -> TrainingSettings | None:
    fit = reader.derive("KWARGS_FIT", lambda: parse_kwargs("fit", values["KWARGS_FIT"]))
    evaluate = reader.derive("KWARGS_VAL", lambda: parse_kwargs("evaluate", values["KWARGS_VAL"]))
    if fit is None or evaluate is None:
        return None

    def pick(name: str, key: str, default: int) -> int:
        explicit, from_kwargs = values[name], fit.pop(key, None)
        if explicit is not None and from_kwargs is not None and explicit != from_kwargs:
            raise ValueError(f"{name}={explicit} contradicts KWARGS_FIT's {key}={from_kwargs}")
        return explicit or from_kwargs or default

    batch = reader.derive("BATCH", lambda: pick("BATCH", "batch_size", 32))
    epochs = reader.derive("EPOCHS", lambda: pick("EPOCHS", "epochs", 1))
    evaluate.setdefault("batch_size", batch)
    return TrainingSettings(batch, epochs, fit, evaluate, values["SEED"], values["STOP_TIMEOUT"],
                            values["POLL_INTERVAL"], values["START_TIMEOUT"], values["FETCH_TIMEOUT"])


def _stream(values: dict[str, Any], default_bootstrap: str) -> StreamSettings:
    bootstrap = values["DATA_BOOTSTRAP_SERVERS"] or default_bootstrap
    if not bootstrap:
        raise ValueError("DATA_BOOTSTRAP_SERVERS is required")
    if not (values["DATA_TOPIC"] or values["DATASOURCE_ID"]):
        raise ValueError("DATA_TOPIC or DATASOURCE_ID is required: the job needs a data stream")
    if values["VALIDATION_RATE"] + values["TEST_RATE"] >= 1:
        raise ValueError("VALIDATION_RATE + TEST_RATE must leave data to train on (sum < 1)")
    pin = values["DATASOURCE_SHA256"]
    if pin and (not values["DATASOURCE_ID"] or not _SHA256.fullmatch(pin)):
        raise ValueError("DATASOURCE_SHA256 must be 64 lowercase hex digits, with DATASOURCE_ID")
    if values["DATASOURCE_OFFSET"] is not None and not pin:
        raise ValueError("DATASOURCE_OFFSET needs DATASOURCE_SHA256: a pinned record is verified by its digest")
    place = (RecordPin(values["DATASOURCE_PARTITION"], values["DATASOURCE_OFFSET"], pin)
             if values["DATASOURCE_OFFSET"] is not None else None)
    config = _object(values["INPUT_CONFIG"], "INPUT_CONFIG")
    return StreamSettings(bootstrap, values["DATA_CONTROL_TOPIC"], values["DATASOURCE_ID"] or None,
                          values["DATA_TOPIC"], values["INPUT_FORMAT"], config,
                          values["VALIDATION_RATE"], values["TEST_RATE"], values["TOTAL_MSG"], pin or None, place)


def _announcement_pin(values: dict[str, Any]) -> RecordPin | None:
    offset, digest = values["ANNOUNCEMENT_OFFSET"], values["ANNOUNCEMENT_SHA256"]
    if offset is None and not digest:
        return None
    if offset is None or not _SHA256.fullmatch(digest):
        raise ValueError("ANNOUNCEMENT_OFFSET and ANNOUNCEMENT_SHA256 (64 lowercase hex digits) pin an announcement "
                         "together")
    return RecordPin(values["ANNOUNCEMENT_PARTITION"], offset, digest)


def _chain(reader: _Reader, values: dict[str, Any], token_required: bool) -> ChainSettings | None:
    """The blockchain settings, or None in classic mode (where ETH_* are ignored)."""
    if values["COORDINATION"] != "blockchain":
        return None
    rpc_url = values["ETH_RPC_URL"]
    if not rpc_url.startswith(("http://", "https://", "ws://", "wss://")):
        reader.errors.append(f"ETH_RPC_URL={rpc_url!r} must be an http(s):// or ws(s):// URL in blockchain mode")
    if values["ETH_CHAIN_ID"] is None:
        reader.errors.append("ETH_CHAIN_ID is required in blockchain mode")
    for name, required in (("ETH_CONTRACT_ADDRESS", True), ("ETH_TOKEN_ADDRESS", token_required)):
        if values[name] and not _ADDRESS.fullmatch(values[name]):
            reader.errors.append(f"{name}={values[name]!r} is not a 0x-prefixed 20-byte address")
        elif not values[name] and required:
            reader.errors.append(f"{name} is required in blockchain mode")
    contract = values["ETH_CONTRACT_ADDRESS"]
    key = reader.derive("ETH_WALLET_KEY", lambda: read_secret("ETH_WALLET_KEY", reader.environ))
    address = reader.derive("ETH_WALLET_KEY", lambda: _address_of(key)) if key else None
    claimed = values["ETH_WALLET_ADDRESS"]
    if address and claimed and claimed.lower() != address.lower():
        reader.errors.append(f"ETH_WALLET_ADDRESS={claimed!r} is not the address of the key in ETH_WALLET_KEY(_FILE)")
    return ChainSettings(rpc_url, values["ETH_CHAIN_ID"], address, contract or None, values["ETH_TOKEN_ADDRESS"] or None,
                         values["ETH_BLOCKSCOUT_URL"], key)


def _address_of(key: str) -> str:
    from eth_account import Account

    try:
        return Account.from_key(key).address
    except Exception:  # the library's message could quote the key
        raise ValueError("ETH_WALLET_KEY is not a valid private key (32 bytes, hex)") from None


def _ceilings(values: dict[str, Any]) -> dict[str, int]:
    """CLIENT_SAMPLE_CEILINGS checked (addresses in blockchain mode, counts in 1..2^32-1); with
    SAMPLE_WEIGHTING=equal every ceiling is 1, so reported counts cannot weigh."""
    ceilings = _object(values["CLIENT_SAMPLE_CEILINGS"], "CLIENT_SAMPLE_CEILINGS")
    for client, ceiling in ceilings.items():
        if values["COORDINATION"] == "blockchain" and not _ADDRESS.fullmatch(client):
            raise ValueError(f"CLIENT_SAMPLE_CEILINGS names {client!r}, not a 0x-prefixed 20-byte address")
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or not 0 < ceiling < 2**32:
            raise ValueError(f"CLIENT_SAMPLE_CEILINGS[{client!r}] must be an integer in 1..2^32-1")
    if values["SAMPLE_WEIGHTING"] == "equal":
        return dict.fromkeys(ceilings, 1)
    return dict(ceilings)


def _settings_hash(environ: Mapping[str, str], path: Path) -> bytes:
    from kafkaml.settings_hash import settings_hash

    return settings_hash(environ, path.read_bytes())


def _results(values: dict[str, Any]) -> ResultsSettings:
    url = values["RESULT_URL"]
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"RESULT_URL={url!r} must be an http(s):// URL")
    token = read_secret("RESULT_TOKEN", {"RESULT_TOKEN_FILE": str(values["RESULT_TOKEN_FILE"])}) \
        if values["RESULT_TOKEN_FILE"] else None
    return ResultsSettings(url, values["RESULT_ID"], values["RESULTS_DIR"], token, values["RESULT_DELIVERY_TIMEOUT"])


def _read_architecture(path: Path) -> BuiltModel:
    """The builder's output, size-bounded before it is read and checked against the allow-list."""
    try:
        size = path.stat().st_size
        if size > MAX_DESCRIPTION_BYTES:
            raise ValueError(f"MODEL_ARCHITECTURE_FILE={str(path)!r} is {size} bytes, more than "
                             f"{MAX_DESCRIPTION_BYTES} allowed")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"MODEL_ARCHITECTURE_FILE={str(path)!r} cannot be read: "
                         f"{getattr(exc, 'strerror', exc)}") from None
    try:
        return BuiltModel.from_json(text)
    except ArchitectureError as exc:
        raise ValueError(f"MODEL_ARCHITECTURE_FILE={str(path)!r}: {exc}") from None


def _strategy(values: dict[str, Any]) -> Strategy:
    try:
        return make_strategy(values["AGG_STRATEGY"].strip().lower(), values["AGG_STRATEGY_PARAMS"])
    except StrategyError as exc:
        raise ConfigError(f"AGG_STRATEGY / AGG_STRATEGY_PARAMS: {exc}") from None


def load_aggregator_settings(environ: Mapping[str, str] | None = None) -> AggregatorSettings:
    """The aggregator's validated settings; ConfigError naming every bad variable otherwise."""
    reader = _Reader("Aggregator job settings", environ)
    values = reader.load(*AGGREGATOR_GROUPS)
    training = reader.derive("KWARGS_FIT", lambda: _training(reader, values))
    stream = reader.derive("DATA_BOOTSTRAP_SERVERS", lambda: _stream(values, values["BOOTSTRAP_SERVERS"]))
    results = reader.derive("RESULT_URL", lambda: _results(values))
    model = reader.derive("MODEL_ARCHITECTURE_FILE", lambda: _read_architecture(values["MODEL_ARCHITECTURE_FILE"]))
    strategy = reader.derive("AGG_STRATEGY", lambda: _strategy(values))
    restriction = reader.derive("DATA_RESTRICTION", lambda: _object(values["DATA_RESTRICTION"], "DATA_RESTRICTION"))
    base = reader.derive("REWARD_BASE", lambda: parse_token_amount(values["REWARD_BASE"]))
    chain = reader.derive("ETH_RPC_URL", lambda: _chain(reader, values, token_required=False))
    ceilings = reader.derive("CLIENT_SAMPLE_CEILINGS", lambda: _ceilings(values))
    signing_key = (reader.derive("ETH_WALLET_KEY", lambda: read_secret("ETH_WALLET_KEY", reader.environ))
                   if values.get("COORDINATION") == "classic" else None)
    budget = reader.derive("REWARD_BUDGET", lambda: reward_budget(values["REWARD_BUDGET"], values["REWARD_BASE"],
                                                                  values["AGGREGATION_ROUNDS"]))
    reader.check()
    return AggregatorSettings(
        coordination=values["COORDINATION"], bootstrap_servers=values["BOOTSTRAP_SERVERS"],
        deployment_id=values["DEPLOYMENT_ID"], federated_id=values["FEDERATED_STRING_ID"],
        model_architecture_file=values["MODEL_ARCHITECTURE_FILE"], model=model, rounds=values["AGGREGATION_ROUNDS"],
        min_data=values["MIN_DATA"], strategy=strategy, data_restriction=restriction,
        model_logger_topic=values["MODEL_LOGGER_TOPIC"], client_ceilings=ceilings,
        reward_policy=RewardPolicy(values["REWARD_POLICY"], base, values["REWARD_REJECT_RATIO"],
                                   values["REWARD_EXCLUDE_AFTER"]),
        reward_budget=budget, signing_key=signing_key, settings_hash=_settings_hash(reader.environ, values["MODEL_ARCHITECTURE_FILE"]),
        training=training, stream=stream, chain=chain, results=results,
    )


def load_trainer_settings(environ: Mapping[str, str] | None = None) -> TrainerSettings:
    """A client trainer's validated settings; ConfigError naming every bad variable otherwise."""
    reader = _Reader("Trainer job settings", environ)
    values = reader.load(*TRAINER_GROUPS)
    training = reader.derive("KWARGS_FIT", lambda: _training(reader, values))
    heterogeneity = reader.derive("SIMULATED_DROPOUT_AFTER", lambda: Heterogeneity(
        values["SIMULATED_SLOWDOWN"], values["SIMULATED_DROPOUT_AFTER"], values["SIMULATED_DROPOUT_S"]))
    stream = reader.derive("DATA_BOOTSTRAP_SERVERS", lambda: _stream(values, ""))
    results = reader.derive("RESULT_URL", lambda: _results(values))
    chain = reader.derive("ETH_RPC_URL", lambda: _chain(reader, values, token_required=True))
    pin = reader.derive("ANNOUNCEMENT_SHA256", lambda: _announcement_pin(values))
    signer = values["PLATFORM_SIGNER_ADDRESS"]
    if values.get("COORDINATION") == "classic" and not _ADDRESS.fullmatch(signer):
        reader.errors.append(f"PLATFORM_SIGNER_ADDRESS={signer!r} must be the 0x address that signs announcements "
                             "in classic mode")
    reader.check()
    return TrainerSettings(
        coordination=values["COORDINATION"], platform_bootstrap_servers=values["KML_CLOUD_BOOTSTRAP_SERVERS"],
        federated_id=values["FEDERATED_MODEL_ID"], client_id=values["FEDERATED_CLIENT_ID"],
        model_logger_topic=values["MODEL_LOGGER_TOPIC"], platform_signer=signer or None, training=training,
        stream=stream, chain=chain, results=results, heterogeneity=heterogeneity, announcement_pin=pin,
    )


def load_single_settings(environ: Mapping[str, str] | None = None) -> SingleSettings:
    """A single training's validated settings; ConfigError naming every bad variable otherwise."""
    reader = _Reader("Single training job settings", environ)
    values = reader.load(*SINGLE_GROUPS)
    training = reader.derive("KWARGS_FIT", lambda: _training(reader, values))
    stream = reader.derive("DATA_BOOTSTRAP_SERVERS", lambda: _stream(values, ""))
    results = reader.derive("RESULT_URL", lambda: _results(values))
    model = reader.derive("MODEL_ARCHITECTURE_FILE", lambda: _read_architecture(values["MODEL_ARCHITECTURE_FILE"]))
    metric = values.get("MONITOR_METRIC", "")
    if values.get("INCREMENTAL") and not re.fullmatch(r"val_[a-z_]{1,40}", metric or ""):
        reader.errors.append(f"MONITOR_METRIC={metric!r} must name a validation metric (val_loss, val_accuracy, ...)")
    reader.check()
    incremental = IncrementalSettings(values["STREAM_TIMEOUT"], values["WINDOW_SIZE"], metric,
                                      values["MONITOR_MODE"], values["IMPROVEMENT"]) if values["INCREMENTAL"] else None
    return SingleSettings(values["RESULT_ID"], model, training, stream, results, incremental)
