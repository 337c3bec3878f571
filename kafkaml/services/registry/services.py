"""Datasources: registered from the platform's data control topic, once per record.

The data control logger relays each record with where it was read (topic, partition, offset);
registering the same record twice returns the first registration, so the logger may retry
freely. Any record that describes no usable datasource (empty, malformed, too large, with a null or
oversized header, or one the relay could not deliver whole) is recorded as rejected, with the
reason and a bounded trace of the record (:mod:`kafkaml.relay_records`), and acknowledged like a
registration: the relay goes on, and the rejection stays visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max

from kafkaml.messages.fields import SchemaError
from kafkaml.messages.legacy import parse_data_control
from kafkaml.relay_records import MAX_DESCRIPTION_BYTES, ControlRecord
from kafkaml.services.registry.models import Datasource, RejectedRecord


@dataclass(frozen=True)
class Registration:
    """What became of one control record: registered now, known from before, or rejected."""

    status: str  # "registered", "known" or "rejected"
    datasource: Datasource | None = None
    reason: str = ""


def datasource_register(*, control_topic: str, partition: int, offset: int, record: ControlRecord) -> Registration:
    """Register the datasource of one data control record, once per record position."""
    position = {"control_topic": control_topic, "control_partition": partition, "control_offset": offset}
    existing = Datasource.objects.filter(**position).first()
    if existing is not None:
        return Registration("known", existing)
    rejected = RejectedRecord.objects.filter(**position).first()
    if rejected is not None:
        return Registration("rejected", reason=rejected.reason)
    problem = record.problem(MAX_DESCRIPTION_BYTES)
    if not problem:
        try:
            described = parse_data_control(record.value)
        except (SchemaError, ValueError) as exc:
            problem = str(exc)
    if problem:
        rejected, _ = RejectedRecord.objects.get_or_create(**position, defaults=record.rejection(problem))
        return Registration("rejected", reason=rejected.reason)
    datasource = Datasource(
        datasource_id=described.datasource_id, topic=described.topic, format=described.format,
        description=described.description, input_shape=list(described.input_shape), classes=described.classes,
        counts={split: described.count(split) for split in ("train", "validation", "test")},
        message=described.to_json(), sha256=record.sha256,
        control_topic=control_topic, control_partition=partition, control_offset=offset,
    )
    try:
        with transaction.atomic():
            datasource.save()
    except IntegrityError:  # the same record registered concurrently: the first one stands
        return Registration("known", Datasource.objects.get(**position))
    return Registration("registered", datasource)


def next_offset(*, control_topic: str, partition: int) -> int:
    """Where a relay of ``control_topic`` goes on: after the last record registered or rejected."""
    position = {"control_topic": control_topic, "control_partition": partition}
    last = [model.objects.filter(**position).aggregate(last=Max("control_offset"))["last"]
            for model in (Datasource, RejectedRecord)]
    known = [offset for offset in last if offset is not None]
    return max(known) + 1 if known else 0
