"""Datasources: registered from the platform's data control topic, once per record.

The data control logger relays each record with where it was read (topic, partition, offset);
registering the same record twice returns the first registration, so the logger may retry
freely. Malformed descriptions are refused with the schema's field-level message.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from backend.api.models import Datasource
from kafkaml.schemas import SchemaError, parse_data_control

MAX_DESCRIPTION_BYTES = 256 * 1024


def datasource_register(*, control_topic: str, partition: int, offset: int, record: bytes) -> tuple[Datasource, bool]:
    """The datasource of one data control record; ``True`` when it was new."""
    existing = Datasource.objects.filter(control_topic=control_topic, control_partition=partition,
                                         control_offset=offset).first()
    if existing is not None:
        return existing, False
    if len(record) > MAX_DESCRIPTION_BYTES:
        raise ValidationError({"record": [f"a datasource description is at most {MAX_DESCRIPTION_BYTES} bytes"]})
    try:
        described = parse_data_control(record)
    except SchemaError as exc:
        raise ValidationError({"record": [str(exc)]}) from None
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
        return Datasource.objects.get(control_topic=control_topic, control_partition=partition,
                                      control_offset=offset), False
    return datasource, True
