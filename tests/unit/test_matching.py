"""Matching a datasource to an announced model: every compared property, each mismatch named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kafkaml.matching import mismatches
from kafkaml.messages.kinds import BlockchainInfo, DataControl, ModelControl, OffsetRange

MODEL = ModelControl(model_id="m", input_shape=(8,), output_shape=(3,),
                     platform_bootstrap="kafka:9092", coordination="blockchain", label_dtype="int64",
                     data_restriction={"site": "ev"}, min_data=100,
                     blockchain=BlockchainInfo("http://chain:8545", 1, "0x" + "11" * 20))
DATA = DataControl(datasource_id="d", topic="t", format="RAW", train=(OffsetRange(0, 0, 150),), validation=(),
                   test=(), input_shape=(8,), input_dtype="float32", label_shape=(1,), label_dtype="int64",
                   classes=3, dataset_restrictions={"site": "ev"})


def test_a_fitting_datasource_matches() -> None:
    assert mismatches(MODEL, DATA) == []
    assert mismatches(MODEL, replace(DATA, classes=2, label_dtype="int32")) == []  # fewer classes, any int


@pytest.mark.parametrize(("model", "data", "reason"), [
    (MODEL, replace(DATA, input_shape=(2, 4)), "samples of shape (2, 4), the model expects (8,)"),
    (MODEL, replace(DATA, classes=5), "5 classes, the model predicts 3"),
    (MODEL, replace(DATA, label_dtype="float32"), "labels of type float32"),
    (replace(MODEL, framework="pytorch"), DATA, "framework 'pytorch'"),
    (MODEL, replace(DATA, dataset_restrictions={}), "restrictions {}, the model requires {'site': 'ev'}"),
    (MODEL, replace(DATA, train=(OffsetRange(0, 0, 99),)), "99 training samples, the model needs at least 100"),
])
def test_each_mismatch_is_named(model: ModelControl, data: DataControl, reason: str) -> None:
    found = mismatches(model, data)
    assert len(found) == 1 and reason in found[0]
