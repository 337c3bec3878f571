"""The trainer checks an announcement's ``training`` field before any of it reaches ``model.fit``."""

from __future__ import annotations

import pytest

from kafkaml.messages.kinds import ModelControl
from kafkaml.strategies import make_strategy
from training_worker.announcement import AnnouncementError, announced_training

TRAINING = {
    "compile_config": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}, "epochs": 2, "batch": 16,
    "weights_topic": "kml-weights-m-7", "strategy": make_strategy("fedasync", {}).description_json(),
    "fit_kwargs": {"shuffle": False, "class_weight": {"0": 1.0, "1": 2.0}}, "parameters": 1234,
}


def announcement(**training) -> ModelControl:
    return ModelControl(model_id="m-7", input_shape=(8,), output_shape=(3,),
                        platform_bootstrap="platform:9092", coordination="classic", control_topic="kml-fl-m-7",
                        training={**TRAINING, **training})


def test_a_well_formed_training_field_is_taken_as_announced() -> None:
    checked = announced_training(announcement())
    assert (checked.epochs, checked.batch, checked.weights_topic) == (2, 16, "kml-weights-m-7")
    assert checked.strategy.description_json() == TRAINING["strategy"]
    assert checked.fit_kwargs["shuffle"] is False and checked.compile_config == TRAINING["compile_config"]


@pytest.mark.parametrize(("training", "problem"), [
    ({"fit_kwargs": {"callbacks": ["keras.callbacks.RemoteMonitor"]}},
     "training.fit_kwargs: fit argument 'callbacks' is not allowed"),
    ({"fit_kwargs": {"x": [[0.0] * 8]}}, "training.fit_kwargs: fit argument 'x' is not allowed"),
    ({"fit_kwargs": {"validation_data": "kml-data-other"}}, "training.fit_kwargs: fit argument 'validation_data'"),
    ({"fit_kwargs": {"shuffle": "__import__('os')"}}, "training.fit_kwargs: fit argument 'shuffle'"),
    ({"fit_kwargs": ["callbacks"]}, "training.fit_kwargs: fit arguments must be an object"),
    ({"fit_kwargs": {"verbose": 2}}, "training.fit_kwargs: verbose set by the trainer"),
    ({"fit_kwargs": {"epochs": 500}}, "training.fit_kwargs: epochs set by the trainer"),
    ({"epochs": 0}, "training.epochs: expected a positive integer, got 0"),
    ({"epochs": "2"}, "training.epochs: expected a positive integer, got '2'"),
    ({"batch": True}, "training.batch: expected a positive integer, got True"),
    ({"batch": None}, "training.batch: expected a positive integer, got None"),
    ({"weights_topic": ""}, "training.weights_topic: '' is not a valid topic name"),
    ({"weights_topic": "../../etc/passwd"}, "training.weights_topic: '../../etc/passwd' is not a valid topic name"),
    ({"weights_topic": 7}, "training.weights_topic: 7 is not a valid topic name"),
    ({"strategy": "fedasync"}, "training.strategy: strategy description is not JSON"),
    ({"strategy": '{"name": "fedprox", "params": {}}'}, "training.strategy: unknown aggregation strategy 'fedprox'"),
    ({"strategy": 3}, "training.strategy: a strategy description is a JSON object"),
    ({"compile_config": "adam"}, "training.compile_config: expected a JSON object, got str"),
])
def test_a_bad_training_field_is_refused_naming_it(training: dict, problem: str) -> None:
    with pytest.raises(AnnouncementError) as caught:
        announced_training(announcement(**training))
    assert str(caught.value).startswith("the announcement of 'm-7' is refused: ")
    assert problem in str(caught.value)


def test_a_missing_field_is_refused_too() -> None:
    message = announcement()
    del message.training["compile_config"]
    with pytest.raises(AnnouncementError, match="training.compile_config: expected a JSON object, got NoneType"):
        announced_training(message)
