"""Datasources: registered from the platform's data control topic, once per record.

The data control logger relays each record with where it was read (topic, partition, offset);
registering the same record twice returns the first registration, so the logger may retry
freely. A malformed description is recorded as rejected, with the schema's field-level message, and
acknowledged like a registration: the relay goes on, and the rejection stays visible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max

from kafkaml.registry.models import Datasource, RejectedRecord
from kafkaml.schemas import SchemaError, parse_data_control

MAX_DESCRIPTION_BYTES = 256 * 1024


@dataclass(frozen=True)
class Registration:
    """What became of one control record: registered now, known from before, or rejected."""

    status: str  # "registered", "known" or "rejected"
    datasource: Datasource | None = None
    reason: str = ""


def datasource_register(*, control_topic: str, partition: int, offset: int, record: bytes) -> Registration:
    """Register the datasource of one data control record, once per record position."""
    position = {"control_topic": control_topic, "control_partition": partition, "control_offset": offset}
    existing = Datasource.objects.filter(**position).first()
    if existing is not None:
        return Registration("known", existing)
    rejected = RejectedRecord.objects.filter(**position).first()
    if rejected is not None:
        return Registration("rejected", reason=rejected.reason)
    try:
        if len(record) > MAX_DESCRIPTION_BYTES:
            raise ValueError(f"a datasource description is at most {MAX_DESCRIPTION_BYTES} bytes")
        described = parse_data_control(record)
    except (SchemaError, ValueError) as exc:
        RejectedRecord.objects.get_or_create(**position, defaults={"reason": str(exc)[:2000]})
        return Registration("rejected", reason=str(exc))
    datasource = Datasource(
        datasource_id=described.datasource_id, topic=described.topic, format=described.format,
        description=described.description, input_shape=list(described.input_shape), classes=described.classes,
        counts={split: described.count(split) for split in ("train", "validation", "test")},
        message=described.to_json(), sha256=hashlib.sha256(record).hexdigest(),
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
