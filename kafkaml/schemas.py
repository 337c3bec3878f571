"""Every control message that crosses a Kafka topic, in one place, versioned and validated on read.

Messages are JSON objects ``{"kind": ..., "version": N, ...fields}``; ``N`` is the message kind's
schema version (:attr:`Message.SCHEMA`), bumped when a kind's meaning changes. Readers check each field and
raise :class:`SchemaError` naming the message kind and the field (``data_control.input_shape:
expected a list of positive integers``) so that a producer's mistake is found in one look. Fields
a reader does not know are ignored, so a newer producer can add fields without breaking older
readers; a *newer major version* is refused because its meaning may have changed.

The data control message also has an earlier form, written by the first Kafka-ML's datasource
sinks (``"topic": "name:partition:start:end,..."``, ``input_config``...).
:func:`parse_data_control` accepts both so existing data owners can join without changing their
producers.

:func:`read_control` is the one reader of control topics (loggers, classic coordinator): it reads
from a given offset, decodes, and logs and skips malformed records instead of crashing.
:func:`read_pinned` reads the one record a :class:`RecordPin` names, for a job told which record
its service chose.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
from kafka import KafkaProducer, TopicPartition

from kafkaml import kafka
from kafkaml.codecs import avro_fields, avro_layout
from kafkaml.pointers import WeightsPointer, check_hash

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FORMATS = ("RAW", "AVRO")
SPLITS = ("train", "validation", "test")
_REQUIRED: Any = object()


class SchemaError(ValueError):
    """A control message is malformed; ``kind`` and ``field`` say where."""

    def __init__(self, kind: str, field_name: str, problem: str) -> None:
        super().__init__(f"{kind}.{field_name}: {problem}" if field_name else f"{kind}: {problem}")
        self.kind = kind
        self.field = field_name


class _Fields:
    """Typed access to a message's fields; every failure names the message kind and the field."""

    def __init__(self, kind: str, data: Any, prefix: str = "") -> None:
        if not isinstance(data, Mapping):
            raise SchemaError(kind, prefix.rstrip("."), f"expected a JSON object, got {type(data).__name__}")
        self.kind, self.data, self.prefix = kind, data, prefix

    def error(self, name: str, problem: str) -> SchemaError:
        return SchemaError(self.kind, self.prefix + name, problem)

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        if name in self.data and self.data[name] is not None:
            return self.data[name]
        if default is _REQUIRED:
            raise self.error(name, "is required")
        return default

    def str(self, name: str, default: Any = _REQUIRED, *, non_empty: bool = False) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {type(value).__name__}")
        if non_empty and not value:
            raise self.error(name, "must not be empty")
        return value

    def int(self, name: str, default: Any = _REQUIRED, *, minimum: int | None = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {value!r:.40}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        return value

    def float(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {value!r:.40}")
        return float(value)

    def bool(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {value!r:.40}")
        return value

    def dict(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, Mapping):
            raise self.error(name, f"expected a JSON object, got {type(value).__name__}")
        return dict(value)

    def shape(self, name: str) -> tuple[int, ...]:
        value = self.raw(name)
        if not isinstance(value, list | tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value
        ):
            raise self.error(name, f"expected a list of positive integers, got {value!r:.60}")
        return tuple(value)

    def dtype(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.str(name, default)
        return _check_dtype(value, lambda problem: self.error(name, problem))

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _REQUIRED) -> Any:
        value = self.str(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, got {value!r:.40}")
        return value

    def nested(self, name: str) -> _Fields:
        return _Fields(self.kind, self.raw(name), f"{self.prefix}{name}.")

    def names(self, name: str, default: Any = _REQUIRED) -> Any:
        """A list of non-empty strings, as a tuple."""
        value = self.raw(name, default)
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            raise self.error(name, f"expected a list of non-empty strings, got {value!r:.60}")
        return tuple(value)


def _check_dtype(name: str, error: Any) -> str:
    """A numpy dtype name with a fixed size (what RAW bytes can be decoded into)."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise error(f"{name!r} is not a numpy dtype") from None
    if dtype.kind not in "biuf" or dtype.itemsize == 0:
        raise error(f"{name!r} is not a numeric dtype (bool, int, uint or float)")
    return dtype.name


def _rate(fields: _Fields, name: str) -> float:
    value = fields.float(name, 0.0)
    if not 0.0 <= value < 1.0:
        raise fields.error(name, f"must be in [0, 1), got {value}")
    return value


def _pointer(fields: _Fields, name: str, default: Any = _REQUIRED) -> Any:
    """A weights pointer (topic, partition, [start_offset, end_offset)), or ``default`` when absent."""
    if fields.raw(name, None) is None and default is not _REQUIRED:
        return default
    pointer_fields = fields.nested(name)
    try:
        return WeightsPointer(
            pointer_fields.str("topic", non_empty=True), pointer_fields.int("partition", minimum=0),
            pointer_fields.int("start_offset", minimum=0), pointer_fields.int("end_offset", minimum=1),
        )
    except ValueError as exc:
        if isinstance(exc, SchemaError):
            raise
        raise fields.error(name, str(exc)) from None


def _hash(fields: _Fields, name: str, default: Any = _REQUIRED) -> Any:
    """A SHA-256 content hash written as 64 hex digits, or ``default`` when absent."""
    digest = fields.str(name, default)
    if digest is default and default is not _REQUIRED:
        return default
    try:
        return check_hash(bytes.fromhex(digest))
    except ValueError:
        raise fields.error(name, f"expected 64 hex digits, got {digest!r:.70}") from None


@dataclass(frozen=True)
class OffsetRange:
    """Records ``[start, end)`` of one partition of the datasource's topic."""

    partition: int
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start

    def to_json(self) -> dict[str, int]:
        return {"partition": self.partition, "start": self.start, "end": self.end}

    @classmethod
    def parse(cls, fields: _Fields) -> OffsetRange:
        partition = fields.int("partition", minimum=0)
        start = fields.int("start", minimum=0)
        end = fields.int("end", minimum=start + 1)
        return cls(partition, start, end)


def compress_offsets(partition: int, offsets: list[int]) -> tuple[OffsetRange, ...]:
    """Runs of consecutive offsets as ranges: one range unless other producers interleaved."""
    ranges: list[OffsetRange] = []
    for offset in sorted(offsets):
        if ranges and ranges[-1].end == offset:
            ranges[-1] = OffsetRange(partition, ranges[-1].start, offset + 1)
        else:
            ranges.append(OffsetRange(partition, offset, offset + 1))
    return tuple(ranges)


class Message(ABC):
    """Base of every control message: the envelope (kind, version) and JSON encoding."""

    KIND: ClassVar[str]
    #: The newest schema version of this kind, written by this code; readers refuse newer ones.
    SCHEMA: ClassVar[int] = SCHEMA_VERSION

    @abstractmethod
    def body(self) -> dict[str, Any]:
        """The message's own fields as JSON values."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "version": self.SCHEMA, **self.body()}

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    @abstractmethod
    def parse(cls, fields: _Fields) -> Message:
        """Build the message from validated fields."""


@dataclass(frozen=True)
class DataControl(Message):
    """A datasource a data owner published: where its samples are and how to decode them."""

    KIND: ClassVar[str] = "data_control"

    datasource_id: str
    topic: str
    format: str
    train: tuple[OffsetRange, ...]
    validation: tuple[OffsetRange, ...]
    test: tuple[OffsetRange, ...]
    input_shape: tuple[int, ...]
    input_dtype: str
    label_shape: tuple[int, ...]
    label_dtype: str
    classes: int | None = None
    federated_string_id: str = ""
    description: str = ""
    validation_rate: float = 0.0
    test_rate: float = 0.0
    dataset_restrictions: dict[str, Any] = field(default_factory=dict)
    incremental: bool = False
    avro_data_schema: dict[str, Any] | None = None
    avro_label_schema: dict[str, Any] | None = None
    legacy: bool = False

    def ranges(self, split: str) -> tuple[OffsetRange, ...]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return getattr(self, split)

    def count(self, split: str) -> int:
        return sum(r.count for r in self.ranges(split))

    @property
    def total_msg(self) -> int:
        return sum(self.count(split) for split in SPLITS)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "datasource_id": self.datasource_id, "topic": self.topic, "format": self.format,
            "splits": {split: [r.to_json() for r in self.ranges(split)] for split in SPLITS},
            "counts": {split: self.count(split) for split in SPLITS},
            "total_msg": self.total_msg,
            "input_shape": list(self.input_shape), "input_dtype": self.input_dtype,
            "label_shape": list(self.label_shape), "label_dtype": self.label_dtype,
            "classes": self.classes, "federated_string_id": self.federated_string_id,
            "description": self.description, "validation_rate": self.validation_rate,
            "test_rate": self.test_rate, "dataset_restrictions": self.dataset_restrictions,
            "incremental": self.incremental,
        }
        if self.format == "AVRO":
            body["avro"] = {"data_schema": self.avro_data_schema, "label_schema": self.avro_label_schema}
        return body

    @classmethod
    def parse(cls, fields: _Fields) -> DataControl:
        splits = fields.nested("splits")
        ranges = {}
        for split in SPLITS:
            items = splits.raw(split, [])
            if not isinstance(items, list):
                raise splits.error(split, "expected a list of offset ranges")
            ranges[split] = tuple(
                OffsetRange.parse(_Fields(fields.kind, item, f"splits.{split}[{index}].")) for index, item in enumerate(items)
            )
        if not ranges["train"]:
            raise fields.error("splits.train", "must hold at least one offset range")
        counts = fields.nested("counts")
        for split in SPLITS:
            described = counts.int(split, minimum=0)
            actual = sum(r.count for r in ranges[split])
            if described != actual:
                raise counts.error(split, f"says {described} samples but the offset ranges hold {actual}")
        data_format = fields.choice("format", FORMATS)
        avro_data = avro_label = None
        if data_format == "AVRO":
            avro = fields.nested("avro")
            avro_data, avro_label = avro.dict("data_schema"), avro.dict("label_schema")
            for name, schema in (("data_schema", avro_data), ("label_schema", avro_label)):
                avro_fields(schema, lambda problem, name=name: avro.error(name, problem))
        classes = fields.int("classes", None, minimum=2)
        return cls(
            datasource_id=fields.str("datasource_id", non_empty=True),
            topic=fields.str("topic", non_empty=True),
            format=data_format,
            train=ranges["train"], validation=ranges["validation"], test=ranges["test"],
            input_shape=fields.shape("input_shape"), input_dtype=fields.dtype("input_dtype"),
            label_shape=fields.shape("label_shape"), label_dtype=fields.dtype("label_dtype"),
            classes=classes,
            federated_string_id=fields.str("federated_string_id", ""),
            description=fields.str("description", ""),
            validation_rate=_rate(fields, "validation_rate"), test_rate=_rate(fields, "test_rate"),
            dataset_restrictions=fields.dict("dataset_restrictions", {}),
            incremental=fields.bool("incremental", False),
            avro_data_schema=avro_data, avro_label_schema=avro_label,
        )


@dataclass(frozen=True)
class BlockchainInfo:
    """Where a training's contract lives, for clients to follow it."""

    rpc_url: str
    chain_id: int
    contract_address: str

    def to_json(self) -> dict[str, Any]:
        return {"rpc_url": self.rpc_url, "chain_id": self.chain_id, "contract_address": self.contract_address}

    @classmethod
    def parse(cls, fields: _Fields) -> BlockchainInfo:
        address = fields.str("contract_address", non_empty=True)
        if not (address.startswith("0x") and len(address) == 42):
            raise fields.error("contract_address", f"expected a 0x-prefixed 20-byte address, got {address!r:.50}")
        return cls(fields.str("rpc_url", non_empty=True), fields.int("chain_id", minimum=1), address)


@dataclass(frozen=True)
class ModelControl(Message):
    """A model the platform announces for federated training; clients match it to datasources."""

    KIND: ClassVar[str] = "model_control"

    model_id: str
    federated_string_id: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    platform_bootstrap: str
    coordination: str  # "blockchain" or "classic"
    architecture: str = ""  # the Keras model description clients rebuild
    framework: str = "tensorflow"
    input_dtype: str = "float32"
    label_dtype: str = "int64"
    data_restriction: dict[str, Any] = field(default_factory=dict)
    min_data: int = 0
    incremental: bool = False
    distributed: bool = False
    aggregation_rounds: int = 1
    training: dict[str, Any] = field(default_factory=dict)
    blockchain: BlockchainInfo | None = None
    control_topic: str = ""  # classic coordination: where updates and versions are announced
    #: Classic coordination: the client ids the platform registered for this training, signed with
    #: the announcement (only they train). In blockchain mode the contract registers the clients.
    clients: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "federated_string_id": self.federated_string_id,
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
            "platform_bootstrap": self.platform_bootstrap, "coordination": self.coordination,
            "architecture": self.architecture, "framework": self.framework,
            "input_dtype": self.input_dtype, "label_dtype": self.label_dtype,
            "data_restriction": self.data_restriction, "min_data": self.min_data,
            "incremental": self.incremental, "distributed": self.distributed,
            "aggregation_rounds": self.aggregation_rounds, "training": self.training,
            "blockchain": self.blockchain.to_json() if self.blockchain else None,
            "control_topic": self.control_topic, "clients": list(self.clients),
        }

    @classmethod
    def parse(cls, fields: _Fields) -> ModelControl:
        coordination = fields.choice("coordination", ("blockchain", "classic"))
        blockchain = BlockchainInfo.parse(fields.nested("blockchain")) if coordination == "blockchain" else None
        control_topic = fields.str("control_topic", "", non_empty=coordination == "classic")
        if coordination == "classic" and not control_topic:
            raise fields.error("control_topic", "is required for classic coordination")
        return cls(
            model_id=fields.str("model_id", non_empty=True),
            federated_string_id=fields.str("federated_string_id", non_empty=True),
            input_shape=fields.shape("input_shape"), output_shape=fields.shape("output_shape"),
            platform_bootstrap=fields.str("platform_bootstrap", non_empty=True),
            coordination=coordination,
            architecture=fields.str("architecture", ""),
            framework=fields.str("framework", "tensorflow"),
            input_dtype=fields.dtype("input_dtype", "float32"),
            label_dtype=fields.dtype("label_dtype", "int64"),
            data_restriction=fields.dict("data_restriction", {}),
            min_data=fields.int("min_data", 0, minimum=0),
            incremental=fields.bool("incremental", False),
            distributed=fields.bool("distributed", False),
            aggregation_rounds=fields.int("aggregation_rounds", 1, minimum=1),
            training=fields.dict("training", {}),
            blockchain=blockchain, control_topic=control_topic, clients=fields.names("clients", ()),
        )


@dataclass(frozen=True)
class WeightsMessage(Message):
    """Where one weights payload lives (pointer + content hash) and what it is: a global version
    or a client update trained from ``base_version`` on ``samples`` samples."""

    KIND: ClassVar[str] = "weights"

    model_id: str
    role: str  # "global" or "update"
    version: int
    pointer: WeightsPointer
    content_hash: bytes
    sender: str
    base_version: int | None = None
    samples: int = 0

    def body(self) -> dict[str, Any]:
        # "version" is the envelope's schema version, so the model version is "model_version".
        return {
            "model_id": self.model_id, "role": self.role, "model_version": self.version,
            "pointer": self.pointer.to_json(), "sha256": self.content_hash.hex(), "sender": self.sender,
            "base_version": self.base_version, "samples": self.samples,
        }

    @classmethod
    def parse(cls, fields: _Fields) -> WeightsMessage:
        pointer, content_hash = _pointer(fields, "pointer"), _hash(fields, "sha256")
        role = fields.choice("role", ("global", "update"))
        base_version = fields.int("base_version", None, minimum=0)
        if role == "update" and base_version is None:
            raise fields.error("base_version", "is required for an update")
        return cls(
            model_id=fields.str("model_id", non_empty=True), role=role,
            version=fields.int("model_version", minimum=0), pointer=pointer, content_hash=content_hash,
            sender=fields.str("sender", non_empty=True), base_version=base_version,
            samples=fields.int("samples", 0, minimum=0),
        )


@dataclass(frozen=True)
class MetricsMessage(Message):
    """Measured results (per round, per epoch or final): numbers only, plus free-form context."""

    KIND: ClassVar[str] = "metrics"

    model_id: str
    sender: str
    metrics: dict[str, float]
    model_version: int | None = None
    final: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "sender": self.sender, "metrics": self.metrics,
                "model_version": self.model_version, "final": self.final, "info": self.info}

    @classmethod
    def parse(cls, fields: _Fields) -> MetricsMessage:
        values = fields.nested("metrics")
        metrics = {name: values.float(name) for name in values.data}
        return cls(
            model_id=fields.str("model_id", non_empty=True), sender=fields.str("sender", non_empty=True),
            metrics=metrics, model_version=fields.int("model_version", None, minimum=0),
            final=fields.bool("final", False), info=fields.dict("info", {}),
        )


class Submission(NamedTuple):
    """What identifies one submitted update: its sender (lower case), content hash and pointer.

    A content hash alone does not: a client can copy another's update from its readable topic and
    submit the same hash (with the copy, or with junk, in its own topic), so every verdict is about
    one submission and the same hash may be queued twice."""

    client: str
    content_hash: bytes
    pointer: WeightsPointer

    @classmethod
    def of(cls, client: str, content_hash: bytes, pointer: WeightsPointer) -> Submission:
        return cls(client.lower(), bytes(content_hash), pointer)


@dataclass(frozen=True)
class RoundOutcome:
    """The verdict on one consumed update, named by its submission: accepted with a reward, or
    rejected with a reason."""

    client: str
    content_hash: bytes
    pointer: WeightsPointer
    accepted: bool
    reward: int
    reason: str = ""

    @property
    def submission(self) -> Submission:
        return Submission.of(self.client, self.content_hash, self.pointer)

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "sha256": self.content_hash.hex(), "pointer": self.pointer.to_json(),
                "accepted": self.accepted, "reward": str(self.reward), "reason": self.reason}

    @classmethod
    def parse(cls, fields: _Fields) -> RoundOutcome:
        content_hash = _hash(fields, "sha256")
        reward = fields.str("reward")
        if not reward.isdigit():
            raise fields.error("reward", f"expected a non-negative integer as a string, got {reward!r:.40}")
        return cls(fields.str("client", non_empty=True), content_hash, _pointer(fields, "pointer"),
                   fields.bool("accepted"), int(reward), fields.str("reason", ""))


@dataclass(frozen=True)
class RoundMessage(Message):
    """Classic coordination's record of a round, the one write that makes it happen: the new global
    version (``model_version`` with its ``pointer`` and content hash) together with the outcome of
    every update it consumed, or ``finished`` once the training is closed (what one contract call
    records in blockchain mode). Version 0 (genesis) is a round without outcomes. A record of
    rejected outcomes alone names no version: those updates leave the queue while the round waits
    for more (the contract's ``recordRejections``).

    Schema 3: each outcome names its submission (client, content hash, pointer); one naming less
    does not parse, so a round of schema 2, whose outcomes named the hash alone, is skipped. Schema 2: a version exists only as a round record. Schema 1 published the version
    as a separate ``weights`` message, so a crash between the two writes left a version whose
    updates were still queued (aggregated and rewarded again after a restart). Schema-1 records
    without outcomes still parse (without ``pointer``/``sha256``); a round of schema 2 or later
    that is not the ``finished`` mark must carry both. Rewards are decimal strings: token base
    units exceed JSON's safe integers."""

    KIND: ClassVar[str] = "round"
    SCHEMA: ClassVar[int] = 3

    model_id: str
    model_version: int
    outcomes: tuple[RoundOutcome, ...] = ()
    finished: bool = False
    content_hash: bytes | None = None  # the new version's weights (None only on the finished mark)
    pointer: WeightsPointer | None = None

    def __post_init__(self) -> None:
        if (self.content_hash is None) != (self.pointer is None):
            raise ValueError("a round publishes a version with both its pointer and its content hash, or neither")

    @property
    def publishes_version(self) -> bool:
        return self.pointer is not None

    def body(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "model_version": self.model_version,
                "outcomes": [outcome.to_json() for outcome in self.outcomes], "finished": self.finished,
                "sha256": self.content_hash.hex() if self.content_hash is not None else None,
                "pointer": self.pointer.to_json() if self.pointer is not None else None}

    @classmethod
    def parse(cls, fields: _Fields) -> RoundMessage:
        items = fields.raw("outcomes", [])
        if not isinstance(items, list):
            raise fields.error("outcomes", "expected a list")
        outcomes = tuple(RoundOutcome.parse(_Fields(fields.kind, item, f"outcomes[{index}].")) for index, item in enumerate(items))
        finished = fields.bool("finished", False)
        pointer = _pointer(fields, "pointer", None)
        content_hash = _hash(fields, "sha256", None)
        if (pointer is None) != (content_hash is None):
            present, missing = ("pointer", "sha256") if content_hash is None else ("sha256", "pointer")
            raise fields.error(missing, f"is required with {present}: a round publishes its version whole")
        rejections_only = bool(outcomes) and not any(outcome.accepted for outcome in outcomes)
        if pointer is None and not finished and not rejections_only and fields.data["version"] >= 2:
            raise fields.error("pointer", "is required for a round that is not the finished mark or rejections")
        return cls(fields.str("model_id", non_empty=True), fields.int("model_version", minimum=0), outcomes,
                   finished, content_hash, pointer)


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.KIND: cls for cls in (DataControl, ModelControl, WeightsMessage, MetricsMessage, RoundMessage)
}


def _load_json(raw: bytes | str | Mapping[str, Any], kind: str) -> Any:
    if isinstance(raw, Mapping):
        return raw
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw)
    except UnicodeDecodeError:
        raise SchemaError(kind, "", "not valid JSON (not UTF-8 text)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
        raise SchemaError(kind, "", f"not valid JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise SchemaError(kind, "", "not valid JSON (nested too deeply)") from None


def decode(raw: bytes | str | Mapping[str, Any], expected: type[Message] | None = None) -> Message:
    """Parse one control message; raise :class:`SchemaError` naming the wrong field."""
    kind_hint = expected.KIND if expected else "message"
    fields = _Fields(kind_hint, _load_json(raw, kind_hint))
    kind = fields.str("kind", non_empty=True)
    if kind not in MESSAGE_TYPES:
        raise fields.error("kind", f"unknown message kind {kind!r:.40}; known: {', '.join(MESSAGE_TYPES)}")
    if expected is not None and kind != expected.KIND:
        raise fields.error("kind", f"expected {expected.KIND!r}, got {kind!r}")
    fields = _Fields(kind, fields.data)
    version = fields.int("version", minimum=1)
    newest = MESSAGE_TYPES[kind].SCHEMA
    if version > newest:
        raise fields.error("version", f"{version} is newer than this reader understands ({newest})")
    return MESSAGE_TYPES[kind].parse(fields)


# --- the earlier Kafka-ML data control format ----------------------------------------------------


def parse_data_control(raw: bytes | str | Mapping[str, Any]) -> DataControl:
    """A data control message in our format or in the earlier Kafka-ML sinks' format."""
    data = _load_json(raw, DataControl.KIND)
    if isinstance(data, Mapping) and "kind" not in data and "input_format" in data:
        return _parse_legacy(_Fields("legacy_data_control", data))
    message = decode(data, DataControl)
    assert isinstance(message, DataControl)
    return message


def _legacy_shape(fields: _Fields, config: _Fields, name: str) -> tuple[int, ...]:
    value = config.raw(name, "")
    try:
        dims = tuple(int(part) for part in str(value).replace(",", " ").split())
    except ValueError:
        raise config.error(name, f"expected space-separated integers like '28 28', got {value!r:.40}") from None
    if any(d <= 0 for d in dims):
        raise config.error(name, f"dimensions must be positive, got {value!r:.40}")
    return dims


def _legacy_ranges(fields: _Fields) -> tuple[str, list[OffsetRange]]:
    """``"topic:partition:start:end,..."``: the earlier sinks' datasource location (end exclusive)."""
    text = fields.str("topic", non_empty=True)
    ranges, topics = [], set()
    for part in text.split(","):
        pieces = part.rsplit(":", 3)
        try:
            if len(pieces) != 4:
                raise ValueError
            topic, partition, start, end = pieces[0], int(pieces[1]), int(pieces[2]), int(pieces[3])
        except ValueError:
            raise fields.error("topic", f"expected 'topic:partition:start:end', got {part!r:.60}") from None
        if start < 0 or end <= start or partition < 0:
            raise fields.error("topic", f"empty or negative offset range in {part!r:.60}")
        topics.add(topic)
        ranges.append(OffsetRange(partition, start, end))
    if len(topics) != 1:
        raise fields.error("topic", f"a datasource must live on one topic, got {sorted(topics)}")
    return topics.pop(), ranges


def _positional_split(ranges: list[OffsetRange], counts: list[int]) -> list[tuple[OffsetRange, ...]]:
    """Cut the ranges, in order, into consecutive pieces of the given sizes (the earlier split)."""
    pieces: list[tuple[OffsetRange, ...]] = []
    queue = list(ranges)
    for wanted in counts:
        taken: list[OffsetRange] = []
        while wanted > 0:
            head = queue.pop(0)
            size = min(wanted, head.count)
            taken.append(OffsetRange(head.partition, head.start, head.start + size))
            if size < head.count:
                queue.insert(0, OffsetRange(head.partition, head.start + size, head.end))
            wanted -= size
        pieces.append(tuple(taken))
    return pieces


def _parse_legacy(fields: _Fields) -> DataControl:
    topic, ranges = _legacy_ranges(fields)
    data_format = fields.choice("input_format", FORMATS)
    validation_rate, test_rate = _rate(fields, "validation_rate"), _rate(fields, "test_rate")
    if validation_rate + test_rate >= 1:
        raise fields.error("test_rate", "validation_rate + test_rate must be below 1")
    total = sum(r.count for r in ranges)
    described = fields.int("total_msg", total, minimum=1)
    if described != total:
        raise fields.error("total_msg", f"says {described} samples but the topic ranges hold {total}")
    validation, test = int(total * validation_rate), int(total * test_rate)
    train, val_ranges, test_ranges = _positional_split(ranges, [total - validation - test, validation, test])
    config = fields.nested("input_config") if "input_config" in fields.data else fields.nested("configuration")
    restrictions = fields.raw("dataset_restrictions", {})
    if isinstance(restrictions, str):
        restrictions = _load_json(restrictions or "{}", fields.kind)
    common = {
        "topic": topic,
        "format": data_format, "train": train, "validation": val_ranges, "test": test_ranges,
        "federated_string_id": fields.str("federated_string_id", ""),
        "description": fields.str("description", ""),
        "validation_rate": validation_rate, "test_rate": test_rate,
        "dataset_restrictions": dict(restrictions) if isinstance(restrictions, Mapping) else {},
        "incremental": bool(fields.raw("incremental", False)), "legacy": True,
        "datasource_id": "legacy-" + hashlib.sha256(json.dumps(fields.data, sort_keys=True).encode()).hexdigest()[:16],
    }
    if data_format == "RAW":
        return DataControl(
            input_shape=_legacy_shape(fields, config, "data_reshape"),
            input_dtype=_check_dtype(config.str("data_type"), lambda p: config.error("data_type", p)),
            label_shape=_legacy_shape(fields, config, "label_reshape"),
            label_dtype=_check_dtype(config.str("label_type"), lambda p: config.error("label_type", p)),
            **common,
        )
    schemas = {}
    for name in ("data_scheme", "label_scheme"):
        value = config.raw(name)
        schemas[name] = _load_json(value, fields.kind) if isinstance(value, str) else value
        if not isinstance(schemas[name], Mapping):
            raise config.error(name, "expected an Avro schema (JSON object)")
    input_shape, input_dtype = avro_layout(schemas["data_scheme"], lambda p: config.error("data_scheme", p))
    label_shape, label_dtype = avro_layout(schemas["label_scheme"], lambda p: config.error("label_scheme", p))
    return DataControl(
        input_shape=input_shape, input_dtype=input_dtype, label_shape=label_shape, label_dtype=label_dtype,
        avro_data_schema=dict(schemas["data_scheme"]), avro_label_schema=dict(schemas["label_scheme"]),
        **common,
    )


# --- reading and writing control topics ------------------------------------------------------------


@dataclass(frozen=True)
class ControlRecord:
    """One valid control message and where it was read (so a reader can resume after it)."""

    offset: int
    key: bytes | None
    message: Message
    raw: bytes = b""  # the record's bytes as published (what an announcement hash covers)
    headers: dict[str, bytes] = field(default_factory=dict)


def publish_control(producer: KafkaProducer, topic: str, message: Message, *, key: bytes | None = None,
                    partition: int = 0, timeout_s: float = 15.0) -> int:
    """Send one control message and wait for the broker; returns its offset."""
    metadata = producer.send(topic, message.encode(), key=key, partition=partition).get(timeout=timeout_s)
    return metadata.offset


def read_control(bootstrap: str, topic: str, *, start_offset: int = 0, partition: int = 0,
                 expected: type[Message] | None = None, idle_timeout_s: float | None = None,
                 poll_ms: int = 500) -> Iterator[ControlRecord]:
    """Yield valid control messages from ``start_offset`` on; malformed ones are logged and skipped.

    With ``idle_timeout_s`` the iteration ends once no record arrived for that long (a catch-up
    read); without it, it follows the topic for ever (a logger). Data control messages in the
    earlier Kafka-ML format are accepted when ``expected`` is :class:`DataControl`.
    """
    tp = TopicPartition(topic, partition)
    consumer = kafka.assigned_consumer(bootstrap, [tp])
    try:
        consumer.seek(tp, start_offset)
        last_record = time.monotonic()
        while idle_timeout_s is None or time.monotonic() - last_record < idle_timeout_s:
            for record in consumer.poll(timeout_ms=poll_ms).get(tp, []):
                last_record = time.monotonic()
                try:
                    message = parse_data_control(record.value) if expected is DataControl else decode(record.value, expected)
                except SchemaError as exc:
                    log.warning("skipping malformed message at %s[%d]@%d: %s", topic, partition, record.offset, exc)
                    continue
                yield ControlRecord(record.offset, record.key, message, bytes(record.value),
                                    dict(record.headers or []))
    finally:
        consumer.close()


@dataclass(frozen=True)
class RecordPin:
    """One control record a service chose, named by its place and the SHA-256 of its value.

    Anyone who can write to a control topic can publish another record of the same id; a job given
    a pin reads that record alone and refuses it when its bytes are not the ones chosen."""

    partition: int
    offset: int
    sha256: str  # lower-case hex, as the registries store it

    def place(self, topic: str) -> str:
        """Where the record is, as errors and logs name a record: ``topic[partition]@offset``."""
        return f"{topic}[{self.partition}]@{self.offset}"


class PinError(RuntimeError):
    """The pinned record is not there, or it is not the record pinned."""


def read_pinned(bootstrap: str, topic: str, pin: RecordPin, *, expected: type[Message], timeout_s: float,
                max_bytes: int) -> ControlRecord:
    """The record ``pin`` names, its SHA-256 checked before it is decoded (:class:`PinError` naming
    both digests when it differs); waits up to ``timeout_s`` for the broker to serve it.

    Only that offset is read, however many records the topic holds, and a value larger than
    ``max_bytes`` (the most the reader's registry accepts of such a record) is refused unhashed.
    """
    where = pin.place(topic)
    tp = TopicPartition(topic, pin.partition)
    consumer = kafka.assigned_consumer(bootstrap, [tp], max_partition_fetch_bytes=max_bytes + 64 * 1024)
    try:
        consumer.seek(tp, pin.offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200, max_records=1).get(tp, []):
                if record.offset != pin.offset:  # compacted, a transaction marker, or past the end
                    raise PinError(f"there is no record at {where}")
                return _pinned_record(record, where, pin, expected, max_bytes)
        raise PinError(f"no record at {where} within {timeout_s:.0f} s")
    finally:
        consumer.close()


def _pinned_record(record: Any, where: str, pin: RecordPin, expected: type[Message], max_bytes: int) -> ControlRecord:
    value = bytes(record.value or b"")
    if len(value) > max_bytes:
        raise PinError(f"the record at {where} is {len(value)} bytes; at most {max_bytes} are read")
    digest = hashlib.sha256(value).hexdigest()
    if digest != pin.sha256:
        raise PinError(f"the record at {where} has SHA-256 {digest}, not the pinned {pin.sha256}")
    try:
        message = decode(value, expected)
    except SchemaError as exc:
        raise PinError(f"the record at {where} is not a valid {expected.KIND}: {exc}") from None
    return ControlRecord(record.offset, record.key, message, value, dict(record.headers or []))
