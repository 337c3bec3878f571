"""A data owner's view of the federation: the models the platform announced (each once, by its
position on the model control topic; trusted or rejected with why) and its participations."""

from __future__ import annotations

from django.db import models

from kafkaml.services.registry.models import CONTROL_POSITION, ControlRecordPosition


class AnnouncedModel(ControlRecordPosition):
    """One model control record: an announcement this client trusts, or one it rejected."""

    class State(models.TextChoices):
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    model_id = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices)
    reason = models.TextField(blank=True, default="")
    coordination = models.CharField(max_length=20, blank=True, default="")
    contract_address = models.CharField(max_length=42, blank=True, default="")
    message = models.JSONField(null=True)  # the announcement as received (accepted ones)
    sha256 = models.CharField(max_length=64)  # of the record's value in the topic
    size = models.BigIntegerField(default=0)  # of the record's value in the topic
    excerpt = models.TextField(blank=True, default="")  # rejected ones: the value's first bytes, as text
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=CONTROL_POSITION,
                                               name="one_announcement_per_control_record")]
        ordering = ["-id"]


class Participation(models.Model):
    """One announced model × one of this owner's datasources: whether it trains, and how it went."""

    class State(models.TextChoices):
        MISMATCHED = "mismatched"  # the datasource does not fit the model (reason says why)
        PROPOSED = "proposed"  # fits; waits for the owner's approval (site policy "approval")
        APPROVED = "approved"  # may train; waits for a free trainer slot
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"
        DECLINED = "declined"
        STOPPED = "stopped"

    model = models.ForeignKey(AnnouncedModel, on_delete=models.CASCADE, related_name="participations")
    datasource = models.ForeignKey("registry.Datasource", on_delete=models.CASCADE, related_name="participations")
    state = models.CharField(max_length=12, choices=State.choices)
    reason = models.TextField(blank=True, default="")
    job = models.CharField(max_length=63, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # A model trains on a datasource once: a new arrival never starts it again.
        constraints = [models.UniqueConstraint(fields=["model", "datasource"], name="one_participation_per_pair")]
        ordering = ["-id"]
