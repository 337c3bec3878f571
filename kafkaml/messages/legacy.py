"""The data control message in the earlier Kafka-ML's form, written by its datasource sinks
(``"topic": "name:partition:start:end,..."``, ``input_config``...): :func:`parse_data_control`
accepts it beside ours, so existing data owners can join without changing their producers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kafkaml.codecs import avro_layout, parse_shape
from kafkaml.messages.fields import Fields, check_dtype, load_json, rate_field
from kafkaml.messages.kinds import FORMATS, DataControl, OffsetRange, decode


def parse_data_control(raw: bytes | str | Mapping[str, Any]) -> DataControl:
    """A data control message in our format or in the earlier Kafka-ML sinks' format."""
    data = load_json(raw, DataControl.KIND)
    if isinstance(data, Mapping) and "kind" not in data and "input_format" in data:
        return _parse_legacy(Fields("legacy_data_control", data))
    message = decode(data, DataControl)
    assert isinstance(message, DataControl)
    return message


def _legacy_shape(config: Fields, name: str) -> tuple[int, ...]:
    return parse_shape(config.raw(name, ""), lambda problem: config.error(name, problem))


def _legacy_ranges(fields: Fields) -> tuple[str, list[OffsetRange]]:
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


def _parse_legacy(fields: Fields) -> DataControl:
    topic, ranges = _legacy_ranges(fields)
    data_format = fields.choice("input_format", FORMATS)
    validation_rate, test_rate = rate_field(fields, "validation_rate"), rate_field(fields, "test_rate")
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
        restrictions = load_json(restrictions or "{}", fields.kind)
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
            input_shape=_legacy_shape(config, "data_reshape"),
            input_dtype=check_dtype(config.str("data_type"), lambda p: config.error("data_type", p)),
            label_shape=_legacy_shape(config, "label_reshape"),
            label_dtype=check_dtype(config.str("label_type"), lambda p: config.error("label_type", p)),
            **common,
        )
    schemas = {}
    for name in ("data_scheme", "label_scheme"):
        value = config.raw(name)
        schemas[name] = load_json(value, fields.kind) if isinstance(value, str) else value
        if not isinstance(schemas[name], Mapping):
            raise config.error(name, "expected an Avro schema (JSON object)")
    input_shape, input_dtype = avro_layout(schemas["data_scheme"], lambda p: config.error("data_scheme", p))
    label_shape, label_dtype = avro_layout(schemas["label_scheme"], lambda p: config.error("label_scheme", p))
    return DataControl(
        input_shape=input_shape, input_dtype=input_dtype, label_shape=label_shape, label_dtype=label_dtype,
        avro_data_schema=dict(schemas["data_scheme"]), avro_label_schema=dict(schemas["label_scheme"]),
        **common,
    )
