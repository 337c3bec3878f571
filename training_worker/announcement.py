"""The model announcement: what the aggregator publishes and every trainer rebuilds from.

Clients never execute the platform user's Python source: they rebuild the model from its Keras
JSON architecture and compile it from Keras' own JSON compile configuration, both plain data
checked against :mod:`kafkaml.architecture`'s allow-list (no ``Lambda``, no custom objects)
before Keras sees them. Training settings (epochs, batch, weights topic, shuffle) travel in the
``training`` field; the strategy description is there too, for auditors.

Anyone who can write to the model control topic can write an announcement, so a trainer checks
the ``training`` field before using any of it (:func:`announced_training`): a hostile
``fit_kwargs`` such as ``{"callbacks": ...}`` or ``{"x": ...}`` would otherwise reach
``model.fit`` in the process that holds the client's key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras

from kafkaml.architecture import ArchitectureError, rebuild
from kafkaml.control_topics import ControlRecord, PinError, RecordPin, read_control, read_pinned
from kafkaml.matching import mismatches
from kafkaml.messages.fields import SchemaError
from kafkaml.messages.kinds import DataControl, Message, ModelControl
from kafkaml.messages.legacy import parse_data_control
from kafkaml.model_source import KwargsError, validate_kwargs
from kafkaml.relay_records import MAX_ANNOUNCEMENT_BYTES, MAX_DESCRIPTION_BYTES
from kafkaml.strategies import Strategy, StrategyError, strategy_from_description
from kafkaml.topics import CONTROL_TOPIC_CONFIG, TopicError, check_topic_name, ensure_topic
from training_worker.settings import StreamSettings

#: fit arguments the trainer sets itself: from the announcement's own fields, or fixed.
TRAINER_FIT_ARGS = ("epochs", "batch_size", "verbose")


class AnnouncementError(RuntimeError):
    """The announced model cannot be found, rebuilt, or does not fit the client's data."""


def _newest(bootstrap: str, topic: str, expected: type[Message], wanted: Callable[[ControlRecord], bool],
            timeout_s: float, missing: str) -> ControlRecord:
    """The newest valid record on ``topic`` that ``wanted`` accepts, waiting up to ``timeout_s``.

    The topic is created first when it does not exist yet (one partition): a reader that starts
    before the writer would otherwise make the broker auto-create it with several partitions."""
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    deadline = time.monotonic() + timeout_s
    while True:
        found = None
        for record in read_control(bootstrap, topic, expected=expected, idle_timeout_s=0.5, poll_ms=100):
            if wanted(record):
                found = record
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AnnouncementError(f"{missing} on {topic} within {timeout_s:.0f} s")
        time.sleep(0.5)


def find_model(bootstrap: str, topic: str, model_id: str, timeout_s: float,
               trusted: Callable[[ControlRecord], bool]) -> ModelControl:
    """The newest announcement of ``model_id`` on the model control topic that ``trusted``
    accepts (anyone can write to the topic: the coordinator tells the authentic one)."""
    return _newest(bootstrap, topic, ModelControl,
                   lambda r: r.message.model_id == model_id and trusted(r), timeout_s,
                   f"model {model_id!r} was not announced (by its platform)").message


def pinned_model(bootstrap: str, topic: str, model_id: str, pin: RecordPin, timeout_s: float,
                 trusted: Callable[[ControlRecord], bool]) -> ModelControl:
    """The announcement of ``model_id`` that ``pin`` names: that one record, read alone, when its
    bytes are the ones pinned and ``trusted`` accepts it.

    The pin says which announcement the client's service matched and its owner approved (a later
    announcement of the same id, trusted or not, is not the one approved); the coordinator's check
    still says whether the platform made it, so a wrong pin cannot make a trainer use a forgery."""
    try:
        record = read_pinned(bootstrap, topic, pin, expected=ModelControl, timeout_s=timeout_s,
                             max_bytes=MAX_ANNOUNCEMENT_BYTES)
    except PinError as exc:
        raise AnnouncementError(f"the pinned announcement of model {model_id!r} is refused: {exc}") from None
    where = pin.place(topic)
    announcement = record.message
    assert isinstance(announcement, ModelControl)
    if announcement.model_id != model_id:
        raise AnnouncementError(f"the pinned announcement at {where} is of model {announcement.model_id!r}, "
                                f"not {model_id!r}")
    if not trusted(record):
        raise AnnouncementError(f"the pinned announcement of model {model_id!r} at {where} was not announced "
                                f"by its platform")
    return announcement


def find_datasource(bootstrap: str, topic: str, datasource_id: str, timeout_s: float,
                    sha256: str | None = None, at: RecordPin | None = None) -> tuple[DataControl, str]:
    """The newest description of ``datasource_id`` on a data control topic, with its SHA-256;
    with ``sha256`` only that very description (a pinned datasource: a later description of the
    same id, by anyone who can write to the topic, is ignored); with ``at`` (its place and
    SHA-256) that record read alone, with no scan of the topic."""
    if at is not None:
        try:
            record = read_pinned(bootstrap, topic, at, expected=DataControl, timeout_s=timeout_s,
                                 max_bytes=MAX_DESCRIPTION_BYTES)
        except PinError as exc:
            raise AnnouncementError(f"the pinned description of datasource {datasource_id!r} is refused: {exc}") from None
        assert isinstance(record.message, DataControl)
        if record.message.datasource_id != datasource_id:
            raise AnnouncementError(f"the pinned description at {at.place(topic)} is of datasource "
                                    f"{record.message.datasource_id!r}, not {datasource_id!r}")
        return record.message, at.sha256
    record = _newest(bootstrap, topic, DataControl,
                     lambda r: r.message.datasource_id == datasource_id
                     and sha256 in (None, hashlib.sha256(r.raw).hexdigest()),
                     timeout_s, f"datasource {datasource_id!r} is not described"
                     + (f" with SHA-256 {sha256}" if sha256 else ""))
    return record.message, hashlib.sha256(record.raw).hexdigest()


def client_datasource(stream: StreamSettings, timeout_s: float) -> DataControl:
    """The client's data: its description on the data control topic (DATASOURCE_ID, that very record
    with DATASOURCE_SHA256), or the earlier
    Kafka-ML variables (DATA_TOPIC as ``topic:partition:start:end`` ranges, INPUT_FORMAT, ...)."""
    if stream.datasource_id:
        return find_datasource(stream.bootstrap_servers, stream.control_topic, stream.datasource_id, timeout_s,
                               sha256=stream.datasource_sha256, at=stream.datasource_pin)[0]
    legacy: dict[str, Any] = {"topic": stream.topic, "input_format": stream.input_format,
                              "input_config": stream.input_config, "validation_rate": stream.validation_rate,
                              "test_rate": stream.test_rate}
    if stream.total_msg:
        legacy["total_msg"] = stream.total_msg
    try:
        return parse_data_control(legacy)
    except SchemaError as exc:
        raise AnnouncementError(f"DATA_TOPIC / INPUT_FORMAT / INPUT_CONFIG do not describe a datasource: {exc}") from None


@dataclass(frozen=True)
class AnnouncedTraining:
    """The announcement's ``training`` field, checked: how the trainer trains and where it publishes."""

    epochs: int
    batch: int
    weights_topic: str
    strategy: Strategy
    fit_kwargs: dict[str, Any]
    compile_config: dict[str, Any]


def announced_training(announcement: ModelControl) -> AnnouncedTraining:
    """Check the ``training`` field field by field; :class:`AnnouncementError` names the bad one."""
    training = announcement.training

    def refuse(name: str, problem: str) -> AnnouncementError:
        return AnnouncementError(f"the announcement of {announcement.model_id!r} is refused: "
                                 f"training.{name}: {problem}")

    def positive(name: str) -> int:
        value = training.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise refuse(name, f"expected a positive integer, got {value!r:.40}")
        return value

    topic = training.get("weights_topic")
    try:
        check_topic_name(topic)
    except TopicError as exc:
        raise refuse("weights_topic", str(exc)) from None
    try:
        strategy = strategy_from_description(training.get("strategy", ""))
    except (StrategyError, TypeError) as exc:
        raise refuse("strategy", str(exc)) from None
    try:
        fit_kwargs = validate_kwargs("fit", training.get("fit_kwargs", {}))
    except KwargsError as exc:
        raise refuse("fit_kwargs", str(exc)) from None
    if reserved := sorted(set(fit_kwargs) & set(TRAINER_FIT_ARGS)):
        raise refuse("fit_kwargs", f"{', '.join(reserved)} set by the trainer (epochs and batch are fields of their own)")
    compile_config = training.get("compile_config")
    if not isinstance(compile_config, Mapping):
        raise refuse("compile_config", f"expected a JSON object, got {type(compile_config).__name__}")
    return AnnouncedTraining(positive("epochs"), positive("batch"), topic, strategy, fit_kwargs, dict(compile_config))


def rebuild_model(announcement: ModelControl) -> keras.Model:
    """The announced architecture, checked against the allow-list and compiled with the announced
    compile configuration."""
    try:
        return rebuild(announcement.architecture, announcement.training.get("compile_config"))
    except ArchitectureError as exc:
        raise AnnouncementError(f"the announced model {announcement.model_id!r} is refused: {exc}") from None


def check_fits(announcement: ModelControl, datasource: DataControl) -> None:
    """Refuse to train when the client's data does not match the model (:mod:`kafkaml.matching`)."""
    problems = mismatches(announcement, datasource)
    if problems:
        raise AnnouncementError(f"datasource {datasource.datasource_id!r} does not fit model "
                                f"{announcement.model_id!r}: " + "; ".join(problems))


def training_settings(model: keras.Model, *, epochs: int, batch: int, weights_topic: str,
                      strategy: str, fit_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``training`` field of the announcement (the compiled model's own configuration)."""
    return {"compile_config": model.get_compile_config(), "epochs": epochs, "batch": batch,
            "weights_topic": weights_topic, "strategy": strategy, "fit_kwargs": dict(fit_kwargs),
            "parameters": model.count_params()}
