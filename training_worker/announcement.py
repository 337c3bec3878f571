"""The model announcement: what the aggregator publishes and every trainer rebuilds from.

Clients never execute the platform user's Python source: they rebuild the model from its Keras
JSON architecture and compile it from Keras' own JSON compile configuration, both plain data
checked against :mod:`kafkaml.architecture`'s allow-list (no ``Lambda``, no custom objects)
before Keras sees them. Training settings (epochs, batch, weights topic, shuffle) travel in the
``training`` field; the strategy description is there too, for auditors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import keras

from kafkaml.architecture import ArchitectureError, rebuild
from kafkaml.schemas import DataControl, Message, ModelControl, SchemaError, parse_data_control, read_control
from training_worker.settings import StreamSettings


class AnnouncementError(RuntimeError):
    """The announced model cannot be found, rebuilt, or does not fit the client's data."""


def _newest(bootstrap: str, topic: str, expected: type[Message], wanted: Callable[[Message], bool],
            timeout_s: float, missing: str) -> Message:
    """The newest valid message on ``topic`` that ``wanted`` accepts, waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = None
        for record in read_control(bootstrap, topic, expected=expected, idle_timeout_s=0.5, poll_ms=100):
            if wanted(record.message):
                found = record.message
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AnnouncementError(f"{missing} on {topic} within {timeout_s:.0f} s")
        time.sleep(0.5)


def find_model(bootstrap: str, topic: str, model_id: str, timeout_s: float) -> ModelControl:
    """The newest announcement of ``model_id`` on the model control topic."""
    return _newest(bootstrap, topic, ModelControl, lambda m: m.model_id == model_id, timeout_s,
                   f"model {model_id!r} was not announced")


def find_datasource(bootstrap: str, topic: str, datasource_id: str, timeout_s: float) -> DataControl:
    """The newest description of ``datasource_id`` on a data control topic."""
    return _newest(bootstrap, topic, DataControl, lambda m: m.datasource_id == datasource_id, timeout_s,
                   f"datasource {datasource_id!r} is not described")


def client_datasource(stream: StreamSettings, timeout_s: float) -> DataControl:
    """The client's data: its description on the data control topic (DATASOURCE_ID), or the earlier
    Kafka-ML variables (DATA_TOPIC as ``topic:partition:start:end`` ranges, INPUT_FORMAT, ...)."""
    if stream.datasource_id:
        return find_datasource(stream.bootstrap_servers, stream.control_topic, stream.datasource_id, timeout_s)
    legacy: dict[str, Any] = {"topic": stream.topic, "input_format": stream.input_format,
                              "input_config": stream.input_config, "validation_rate": stream.validation_rate,
                              "test_rate": stream.test_rate}
    if stream.total_msg:
        legacy["total_msg"] = stream.total_msg
    try:
        return parse_data_control(legacy)
    except SchemaError as exc:
        raise AnnouncementError(f"DATA_TOPIC / INPUT_FORMAT / INPUT_CONFIG do not describe a datasource: {exc}") from None


def rebuild_model(announcement: ModelControl) -> keras.Model:
    """The announced architecture, checked against the allow-list and compiled with the announced
    compile configuration."""
    try:
        return rebuild(announcement.architecture, announcement.training.get("compile_config"))
    except ArchitectureError as exc:
        raise AnnouncementError(f"the announced model {announcement.model_id!r} is refused: {exc}") from None


def check_fits(announcement: ModelControl, datasource: DataControl) -> None:
    """Refuse to train when the client's data does not match the model (shape, dtype, classes)."""
    if tuple(announcement.input_shape) != tuple(datasource.input_shape):
        raise AnnouncementError(f"datasource {datasource.datasource_id!r} has samples of shape "
                                f"{datasource.input_shape}, the model expects {announcement.input_shape}")
    classes = announcement.output_shape[-1] if announcement.output_shape else None
    if datasource.classes is not None and classes is not None and datasource.classes > classes:
        raise AnnouncementError(f"datasource {datasource.datasource_id!r} has {datasource.classes} classes, "
                                f"the model predicts {classes}")


def training_settings(model: keras.Model, *, epochs: int, batch: int, weights_topic: str,
                      strategy: str, fit_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``training`` field of the announcement (the compiled model's own configuration)."""
    return {"compile_config": model.get_compile_config(), "epochs": epochs, "batch": batch,
            "weights_topic": weights_topic, "strategy": strategy, "fit_kwargs": dict(fit_kwargs),
            "parameters": model.count_params()}
