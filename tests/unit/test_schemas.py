"""Control message schemas: round trips, field-naming errors, tolerance, the earlier Kafka-ML format."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kafkaml.messages.fields import SchemaError
from kafkaml.messages.kinds import (
    SCHEMA_VERSION,
    BlockchainInfo,
    DataControl,
    MetricsMessage,
    ModelControl,
    OffsetRange,
    RoundMessage,
    RoundOutcome,
    WeightsMessage,
    compress_offsets,
    decode,
)
from kafkaml.messages.legacy import parse_data_control
from kafkaml.pointers import WeightsPointer

DATA = DataControl(
    datasource_id="ds-1", topic="iq-data", format="RAW",
    train=(OffsetRange(0, 0, 70), OffsetRange(0, 75, 80)), validation=(OffsetRange(0, 80, 90),),
    test=(OffsetRange(0, 90, 100),), input_shape=(2, 880, 1), input_dtype="float32",
    label_shape=(), label_dtype="int64", classes=6, federated_string_id="rat", description="vehicle 1",
    validation_rate=0.1, test_rate=0.1, dataset_restrictions={"band": "5.9GHz"},
)
MODEL = ModelControl(
    model_id="m-7", input_shape=(2, 880, 1), output_shape=(6,),
    platform_bootstrap="platform:9092", coordination="blockchain", architecture='{"class_name": "Sequential"}',
    min_data=100, aggregation_rounds=5, training={"batch": 32, "epochs": 1},
    blockchain=BlockchainInfo("http://chain:8545", 31337, "0x" + "ab" * 20),
)
CLASSIC_MODEL = replace(MODEL, coordination="classic", blockchain=None, control_topic="kml-fl-m-7",
                        clients=("client-1", "client-2"))
WEIGHTS = WeightsMessage(
    model_id="m-7", role="update", version=3, pointer=WeightsPointer("w", 0, 10, 14),
    content_hash=bytes(range(32)), sender="client-1", base_version=2, samples=700,
)
METRICS = MetricsMessage(model_id="m-7", sender="platform", metrics={"loss": 0.5, "accuracy": 0.8},
                         model_version=3, info={"staleness": 1})
ROUND = RoundMessage(model_id="m-7", model_version=4, outcomes=(
    RoundOutcome("0x" + "ab" * 20, bytes(range(32)), WeightsPointer("w.0x" + "ab" * 20, 0, 3, 5), True, 10**30),
    RoundOutcome("client-2", bytes(32), WeightsPointer("w.client-2", 0, 0, 2), False, 0, "hash mismatch")),
    content_hash=bytes(range(1, 33)), pointer=WeightsPointer("kml-weights-m-7", 0, 20, 23))
FINISHED = RoundMessage(model_id="m-7", model_version=4, finished=True)


@pytest.mark.parametrize("message", [DATA, MODEL, CLASSIC_MODEL, WEIGHTS, METRICS, ROUND, FINISHED],
                         ids=lambda m: m.KIND + ("-finished" if getattr(m, "finished", False) else ""))
def test_every_message_survives_encode_and_decode(message) -> None:
    assert decode(message.encode()) == message
    assert decode(message.encode(), type(message)) == message


def test_data_control_counts_and_total() -> None:
    assert (DATA.count("train"), DATA.count("validation"), DATA.count("test"), DATA.total_msg) == (75, 10, 10, 95)
    assert DATA.to_json()["counts"] == {"train": 75, "validation": 10, "test": 10}
    with pytest.raises(ValueError, match="split must be one of"):
        DATA.ranges("holdout")


def test_unknown_extra_fields_are_tolerated() -> None:
    body = MODEL.to_json() | {"added_by_a_newer_platform": {"x": 1}}
    body["blockchain"]["explorer"] = "http://blockscout"
    assert decode(json.dumps(body)) == MODEL


def _broken(message, path: list, value) -> bytes:
    body = message.to_json()
    target = body
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(("message", "path", "value", "field", "problem"), [
    (DATA, ["topic"], KeyError, "data_control.topic", "is required"),
    (DATA, ["input_shape"], [2, -880], "data_control.input_shape", "positive integers"),
    (DATA, ["input_dtype"], "float99", "data_control.input_dtype", "not a numpy dtype"),
    (DATA, ["input_dtype"], "str", "data_control.input_dtype", "not a numeric dtype"),
    (DATA, ["format"], "CSV", "data_control.format", "must be one of RAW, AVRO"),
    (DATA, ["splits", "train", 0, "end"], 0, "data_control.splits.train[0].end", "at least 1"),
    (DATA, ["splits", "train"], [], "data_control.splits.train", "at least one offset range"),
    (DATA, ["counts", "test"], 11, "data_control.counts.test", "says 11 samples but the offset ranges hold 10"),
    (DATA, ["validation_rate"], 1.5, "data_control.validation_rate", "in [0, 1)"),
    (DATA, ["classes"], "six", "data_control.classes", "expected an integer"),
    (MODEL, ["blockchain", "contract_address"], "0x12", "model_control.blockchain.contract_address", "20-byte"),
    (MODEL, ["blockchain"], KeyError, "model_control.blockchain", "is required"),
    (MODEL, ["coordination"], "carrier-pigeon", "model_control.coordination", "must be one of"),
    (MODEL, ["min_data"], True, "model_control.min_data", "expected an integer"),
    (CLASSIC_MODEL, ["clients"], ["client-1", 7], "model_control.clients", "list of non-empty strings"),
    (CLASSIC_MODEL, ["clients"], "client-1", "model_control.clients", "list of non-empty strings"),
    (WEIGHTS, ["sha256"], "abc", "weights.sha256", "64 hex digits"),
    (WEIGHTS, ["pointer", "end_offset"], 5, "weights.pointer", "end_offset must be greater"),
    (WEIGHTS, ["base_version"], KeyError, "weights.base_version", "required for an update"),
    (METRICS, ["metrics", "loss"], "nan", "metrics.metrics.loss", "finite number"),
    (METRICS, ["metrics", "loss"], float("inf"), "metrics.metrics.loss", "finite number"),
    (ROUND, ["outcomes", 1, "reward"], "-3", "round.outcomes[1].reward", "non-negative integer"),
    (ROUND, ["outcomes", 0, "sha256"], "zz", "round.outcomes[0].sha256", "64 hex digits"),
    (ROUND, ["outcomes", 0, "accepted"], "yes", "round.outcomes[0].accepted", "true or false"),
    (ROUND, ["outcomes", 1, "client"], KeyError, "round.outcomes[1].client", "is required"),
    (ROUND, ["outcomes", 1, "client"], "", "round.outcomes[1].client", "must not be empty"),
    (ROUND, ["outcomes", 0, "pointer"], KeyError, "round.outcomes[0].pointer", "is required"),
    (ROUND, ["sha256"], KeyError, "round.sha256", "is required with pointer"),
    (ROUND, ["pointer"], None, "round.pointer", "is required with sha256"),
    (ROUND, ["pointer", "start_offset"], 30, "round.pointer", "end_offset must be greater"),
    (ROUND, ["sha256"], "00", "round.sha256", "64 hex digits"),
    (FINISHED, ["finished"], False, "round.pointer",
     "required for a round that is not the finished mark"),
])
def test_errors_name_the_wrong_field(message, path, value, field, problem) -> None:
    with pytest.raises(SchemaError) as caught:
        decode(_broken(message, path, value))
    assert str(caught.value).startswith(field + ":"), str(caught.value)
    assert problem in str(caught.value)
    assert caught.value.kind == field.split(".")[0]


@pytest.mark.parametrize(("raw", "expected", "problem"), [
    (b"\xff\xfe not json", None, "not valid JSON"),
    (b"[1, 2]", None, "expected a JSON object"),
    (b'{"version": 1}', None, "message.kind: is required"),
    (b'{"kind": "gossip", "version": 1}', None, "unknown message kind"),
    (json.dumps(METRICS.to_json() | {"version": SCHEMA_VERSION + 1}).encode(), None, "newer than this reader"),
    (json.dumps(METRICS.to_json() | {"version": "1"}).encode(), None, "metrics.version: expected an integer"),
    (METRICS.encode(), DataControl, "data_control.kind: expected 'data_control', got 'metrics'"),
])
def test_envelope_errors(raw, expected, problem) -> None:
    with pytest.raises(SchemaError) as caught:
        decode(raw, expected)
    assert problem in str(caught.value)


def test_a_round_of_schema_1_still_parses_without_its_version() -> None:
    """Schema 1 published the version as a separate weights message; its rounds carry none."""
    body = ROUND.to_json() | {"version": 1}
    del body["sha256"], body["pointer"]
    old = decode(json.dumps(body))
    assert isinstance(old, RoundMessage) and not old.publishes_version and old.outcomes == ROUND.outcomes
    assert ROUND.publishes_version and ROUND.to_json()["version"] == RoundMessage.SCHEMA == 3


def test_a_newer_round_schema_is_refused() -> None:
    with pytest.raises(SchemaError, match="round.version: 4 is newer than this reader understands \\(3\\)"):
        decode(json.dumps(ROUND.to_json() | {"version": 4}))


def test_a_round_names_its_version_whole() -> None:
    with pytest.raises(ValueError, match="both its pointer and its content hash"):
        RoundMessage("m-7", 5, content_hash=bytes(32))


def test_compress_offsets_makes_runs() -> None:
    assert compress_offsets(2, [5, 3, 4, 9, 10, 12]) == (
        OffsetRange(2, 3, 6), OffsetRange(2, 9, 11), OffsetRange(2, 12, 13))
    assert compress_offsets(0, []) == ()


LEGACY_RAW = {
    "topic": "old-data:0:100:160,old-data:1:0:40",
    "input_format": "RAW",
    "input_config": {"data_type": "float32", "label_type": "uint8", "data_reshape": "28 28", "label_reshape": ""},
    "description": "an existing producer", "dataset_restrictions": '{"city": "Malaga"}',
    "validation_rate": 0.1, "test_rate": 0.25, "total_msg": 100,
}


def test_earlier_kafka_ml_raw_control_message_is_accepted() -> None:
    control = parse_data_control(json.dumps(LEGACY_RAW))
    assert control.legacy and control.topic == "old-data" and control.format == "RAW"
    assert (control.input_shape, control.input_dtype, control.label_shape, control.label_dtype) == (
        (28, 28), "float32", (), "uint8")
    # The earlier split was positional: train first, then validation, then test, over the ranges in order.
    assert control.train == (OffsetRange(0, 100, 160), OffsetRange(1, 0, 5))
    assert control.validation == (OffsetRange(1, 5, 15),)
    assert control.test == (OffsetRange(1, 15, 40),)
    assert control.dataset_restrictions == {"city": "Malaga"}
    assert control.datasource_id == parse_data_control(LEGACY_RAW).datasource_id  # stable id


def test_earlier_kafka_ml_avro_control_message_is_accepted() -> None:
    legacy = {
        "topic": "old-avro:0:0:10", "input_format": "AVRO", "validation_rate": 0.2, "total_msg": 10,
        "input_config": {
            "data_scheme": json.dumps({"type": "record", "name": "D", "fields": [
                {"name": "a", "type": "float"}, {"name": "b", "type": "double"}]}),
            "label_scheme": {"type": "record", "name": "L", "fields": [{"name": "y", "type": "int"}]},
        },
    }
    control = parse_data_control(legacy)
    assert (control.input_shape, control.input_dtype, control.label_shape, control.label_dtype) == (
        (2,), "float64", (), "int32")
    assert (control.count("train"), control.count("validation")) == (8, 2)
    assert parse_data_control(control.encode()) == control.__class__(**{**control.__dict__, "legacy": False})


@pytest.mark.parametrize(("change", "problem"), [
    ({"topic": "old-data:0:100"}, "legacy_data_control.topic: expected 'topic:partition:start:end'"),
    ({"topic": "a:0:0:10,b:0:0:10", "total_msg": 20}, "must live on one topic"),
    ({"topic": "old-data:0:10:10"}, "empty or negative offset range"),
    ({"total_msg": 99}, "legacy_data_control.total_msg: says 99 samples"),
    ({"validation_rate": 0.5, "test_rate": 0.5}, "below 1"),
    ({"input_config": {"data_type": "float32", "label_type": "uint8", "data_reshape": "28 x"}},
     "legacy_data_control.input_config.data_reshape"),
    ({"input_config": {"label_type": "uint8"}}, "legacy_data_control.input_config.data_type: is required"),
])
def test_bad_earlier_format_messages_name_the_field(change, problem) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_data_control(LEGACY_RAW | change)
    assert problem in str(caught.value)
