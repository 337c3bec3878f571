"""What every Django service of the project registers from a data control topic: datasources,
and the records that described none (each once, by its position in the topic)."""

from __future__ import annotations

from django.db import models

CONTROL_POSITION = ["control_topic", "control_partition", "control_offset"]


class ControlRecordPosition(models.Model):
    """Where a control record stands in its topic: what makes registering it idempotent.

    Each concrete model names its own unique constraint on ``CONTROL_POSITION`` (names are
    part of the migrations)."""

    control_topic = models.CharField(max_length=249)
    control_partition = models.IntegerField()
    control_offset = models.BigIntegerField()

    class Meta:
        abstract = True


class Datasource(ControlRecordPosition):
    """A datasource described on the platform's data control topic, registered once per record."""

    datasource_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=249)
    format = models.CharField(max_length=10)
    description = models.TextField(blank=True, default="")
    counts = models.JSONField()  # {"train": n, "validation": n, "test": n}
    input_shape = models.JSONField()
    classes = models.IntegerField(null=True)
    message = models.JSONField()  # the description as received (our format)
    sha256 = models.CharField(max_length=64)  # of the record's bytes: what a training pins
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=CONTROL_POSITION,
                                               name="one_datasource_per_control_record")]
        ordering = ["-id"]


class RejectedRecord(ControlRecordPosition):
    """A data control record the registry could not use, with why: acknowledged, never retried.
    Bounded whatever the record was (:meth:`kafkaml.relay_records.ControlRecord.rejection`)."""

    reason = models.TextField()
    size = models.BigIntegerField(default=0)  # of the record's value in the topic
    sha256 = models.CharField(max_length=64, default="")  # of the value in the topic
    excerpt = models.TextField(blank=True, default="")  # its first bytes, as text
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=CONTROL_POSITION,
                                               name="one_rejection_per_control_record")]
        ordering = ["-id"]


class RelayToken(models.Model):
    """A relay's credential (``Authorization: Relay <token>``), stored only as its SHA-256.

    A relay is no user: its token opens the registration endpoints and their progress, nothing
    else (:mod:`kafkaml.services.registry.auth`)."""

    name = models.CharField(max_length=150, unique=True)
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
