"""The control messages that cross Kafka topics, versioned and validated on read.

Messages are JSON objects ``{"kind": ..., "version": N, ...fields}``; ``N`` is the message kind's
schema version (:attr:`Message.SCHEMA`), bumped when a kind's meaning changes. Readers check each
field (:mod:`kafkaml.messages.fields`). Fields a reader does not know are ignored, so a newer
producer can add fields without breaking older readers; a *newer major version* is refused because
its meaning may have changed. Reading and writing them on topics is :mod:`kafkaml.control_topics`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from kafkaml.codecs import avro_fields
from kafkaml.messages.fields import (
    Fields,
    hash_field,
    load_json,
    pointer_field,
    rate_field,
)
from kafkaml.pointers import WeightsPointer

SCHEMA_VERSION = 1
FORMATS = ("RAW", "AVRO")
SPLITS = ("train", "validation", "test")


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
    def parse(cls, fields: Fields) -> OffsetRange:
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
    def parse(cls, fields: Fields) -> Message:
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
    def parse(cls, fields: Fields) -> DataControl:
        splits = fields.nested("splits")
        ranges = {}
        for split in SPLITS:
            items = splits.raw(split, [])
            if not isinstance(items, list):
                raise splits.error(split, "expected a list of offset ranges")
            ranges[split] = tuple(
                OffsetRange.parse(Fields(fields.kind, item, f"splits.{split}[{index}].")) for index, item in enumerate(items)
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
            validation_rate=rate_field(fields, "validation_rate"), test_rate=rate_field(fields, "test_rate"),
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
    def parse(cls, fields: Fields) -> BlockchainInfo:
        address = fields.str("contract_address", non_empty=True)
        if not (address.startswith("0x") and len(address) == 42):
            raise fields.error("contract_address", f"expected a 0x-prefixed 20-byte address, got {address!r:.50}")
        return cls(fields.str("rpc_url", non_empty=True), fields.int("chain_id", minimum=1), address)


@dataclass(frozen=True)
class ModelControl(Message):
    """A model the platform announces for federated training; clients match it to datasources."""

    KIND: ClassVar[str] = "model_control"

    #: The training's id (its aggregator's FEDERATED_STRING_ID, its trainers' FEDERATED_MODEL_ID).
    model_id: str
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
            "model_id": self.model_id,
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
    def parse(cls, fields: Fields) -> ModelControl:
        coordination = fields.choice("coordination", ("blockchain", "classic"))
        blockchain = BlockchainInfo.parse(fields.nested("blockchain")) if coordination == "blockchain" else None
        control_topic = fields.str("control_topic", "", non_empty=coordination == "classic")
        if coordination == "classic" and not control_topic:
            raise fields.error("control_topic", "is required for classic coordination")
        return cls(
            model_id=fields.str("model_id", non_empty=True),
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
    def parse(cls, fields: Fields) -> WeightsMessage:
        pointer, content_hash = pointer_field(fields, "pointer"), hash_field(fields, "sha256")
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
    def parse(cls, fields: Fields) -> MetricsMessage:
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
    def parse(cls, fields: Fields) -> RoundOutcome:
        content_hash = hash_field(fields, "sha256")
        reward = fields.str("reward")
        if not reward.isdigit():
            raise fields.error("reward", f"expected a non-negative integer as a string, got {reward!r:.40}")
        return cls(fields.str("client", non_empty=True), content_hash, pointer_field(fields, "pointer"),
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
    def parse(cls, fields: Fields) -> RoundMessage:
        items = fields.raw("outcomes", [])
        if not isinstance(items, list):
            raise fields.error("outcomes", "expected a list")
        outcomes = tuple(RoundOutcome.parse(Fields(fields.kind, item, f"outcomes[{index}].")) for index, item in enumerate(items))
        finished = fields.bool("finished", False)
        pointer = pointer_field(fields, "pointer", None)
        content_hash = hash_field(fields, "sha256", None)
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


def decode(raw: bytes | str | Mapping[str, Any], expected: type[Message] | None = None) -> Message:
    """Parse one control message; raise :class:`SchemaError` naming the wrong field."""
    kind_hint = expected.KIND if expected else "message"
    fields = Fields(kind_hint, load_json(raw, kind_hint))
    kind = fields.str("kind", non_empty=True)
    if kind not in MESSAGE_TYPES:
        raise fields.error("kind", f"unknown message kind {kind!r:.40}; known: {', '.join(MESSAGE_TYPES)}")
    if expected is not None and kind != expected.KIND:
        raise fields.error("kind", f"expected {expected.KIND!r}, got {kind!r}")
    fields = Fields(kind, fields.data)
    version = fields.int("version", minimum=1)
    newest = MESSAGE_TYPES[kind].SCHEMA
    if version > newest:
        raise fields.error("version", f"{version} is newer than this reader understands ({newest})")
    return MESSAGE_TYPES[kind].parse(fields)
