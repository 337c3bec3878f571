"""Datasources: listed for every user; registered by the data control logger (a relay token)."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from kafkaml.relay_records import MAX_REASON_CHARS, MAX_RECORD_BYTES, ControlRecord, base64_length
from kafkaml.services.registry.auth import RelayOnly
from kafkaml.services.registry.models import Datasource, RejectedRecord
from kafkaml.services.registry.services import datasource_register, next_offset
from kafkaml.services.rest import Page, StrictCharField, StrictRegexField

TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"


class DatasourceOutput(serializers.ModelSerializer):
    class Meta:
        model = Datasource
        fields = ["id", "datasource_id", "topic", "format", "description", "counts", "input_shape", "classes",
                  "sha256", "control_topic", "control_partition", "control_offset", "message", "created_at"]


class Base64Field(StrictCharField):
    """Bytes as base64 text (``max_length`` counts the text, checked before decoding)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(trim_whitespace=False, **kwargs)

    def run_validation(self, data=empty) -> bytes | None:
        text = super().run_validation(data)
        if text is None:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("expected base64") from None


class UndeliverableInput(serializers.Serializer):
    """A record the relay could not deliver whole (too large, or refused): what it knows of it."""

    reason = StrictCharField(max_length=MAX_REASON_CHARS)
    size = serializers.IntegerField(min_value=0, max_value=2**62, help_text="The value's size in the topic.")
    sha256 = StrictRegexField(r"^[0-9a-f]{64}$", help_text="The value's SHA-256 in the topic.")


class ControlRecordInput(serializers.Serializer):
    """One record of a control topic, where it was read: what a relay delivers to a registry.

    Any record the topic may hold is accepted (empty, null headers, large headers); the registry
    records what it cannot use as rejected, with the reason."""

    control_topic = StrictRegexField(TOPIC_NAME)
    partition = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    offset = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    record = Base64Field(max_length=base64_length(MAX_RECORD_BYTES), allow_blank=True,
                         help_text="The record's value, base64 (empty for an empty value or a tombstone; "
                                   "an excerpt when undeliverable).")
    headers = serializers.DictField(
        child=Base64Field(max_length=base64_length(MAX_RECORD_BYTES), allow_blank=True, allow_null=True),
        default=dict, help_text="The record's headers, each value base64 or null.")
    undeliverable = UndeliverableInput(allow_null=True, default=None)

    def control_record(self) -> tuple[dict[str, object], ControlRecord]:
        """(where the record was read, the record)."""
        data = self.validated_data
        position = {"control_topic": data["control_topic"], "partition": data["partition"], "offset": data["offset"]}
        summary = data["undeliverable"]
        if summary is None:
            return position, ControlRecord(data["record"], data["headers"])
        return position, ControlRecord(data["record"], {}, summary["size"], summary["sha256"], summary["reason"])


class DatasourceListApi(APIView):
    pagination_class = Page

    @extend_schema(parameters=[OpenApiParameter("datasource_id", str, description="Only this datasource id.")],
                   responses=DatasourceOutput(many=True), operation_id="datasources_list")
    def get(self, request):
        datasources = Datasource.objects.all()
        if request.query_params.get("datasource_id"):
            datasources = datasources.filter(datasource_id=request.query_params["datasource_id"][:200])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(datasources, request, self)
        return paginator.get_paginated_response(DatasourceOutput(page, many=True).data)


class RegistrationOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["registered", "known", "rejected"])
    datasource = DatasourceOutput(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class ProgressOutput(serializers.Serializer):
    next_offset = serializers.IntegerField()


class RejectedOutput(serializers.ModelSerializer):
    size = serializers.IntegerField(help_text="The record's size in the topic, in bytes.")
    sha256 = serializers.CharField(help_text="The record's SHA-256 in the topic.")
    excerpt = serializers.CharField(help_text="The record's first bytes, as text (\\xNN: not UTF-8).")

    class Meta:
        model = RejectedRecord
        fields = ["id", "control_topic", "control_partition", "control_offset", "reason", "size", "sha256", "excerpt",
                  "created_at"]


class DatasourceRegisterApi(RelayOnly, APIView):
    """The data control logger's endpoint, idempotent per control record (topic, partition,
    offset): 201 when registered now, 200 when known from before or rejected (with the reason)."""

    @property
    def error_codes(self) -> dict[str, tuple[str, ...]]:
        """503 where the service's hook may start jobs (a federated backend's trainers)."""
        return {"POST": ("503",)} if getattr(settings, "REGISTRY_DATASOURCE_HOOK", None) else {}

    @extend_schema(request=ControlRecordInput, responses={200: RegistrationOutput, 201: RegistrationOutput},
                   operation_id="datasources_register")
    def post(self, request):
        data = ControlRecordInput(data=request.data)
        data.is_valid(raise_exception=True)
        position, record = data.control_record()
        registration = datasource_register(**position, record=record)
        if registration.status == "registered" and getattr(settings, "REGISTRY_DATASOURCE_HOOK", None):
            import_string(settings.REGISTRY_DATASOURCE_HOOK)(registration.datasource)
        body = {"status": registration.status, "reason": registration.reason,
                "datasource": DatasourceOutput(registration.datasource).data if registration.datasource else None}
        return Response(body, status=201 if registration.status == "registered" else 200)


class DatasourceProgressApi(RelayOnly, APIView):
    """Where the data control logger resumes: after the last record registered or rejected."""

    @extend_schema(parameters=[OpenApiParameter("control_topic", str, required=True),
                               OpenApiParameter("partition", int)],
                   responses=ProgressOutput, operation_id="datasources_register_progress")
    def get(self, request):
        data = ProgressInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response({"next_offset": next_offset(**data.validated_data)})


class ProgressInput(serializers.Serializer):
    control_topic = StrictRegexField(TOPIC_NAME)
    partition = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)


class RejectedListApi(APIView):
    """Control records that described no usable datasource, with why."""
    pagination_class = Page


    @extend_schema(responses=RejectedOutput(many=True), operation_id="datasources_rejected_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(RejectedRecord.objects.all(), request, self)
        return paginator.get_paginated_response(RejectedOutput(page, many=True).data)


class DatasourceDetailApi(APIView):
    @extend_schema(responses=DatasourceOutput, operation_id="datasources_retrieve")
    def get(self, request, pk: int):
        return Response(DatasourceOutput(get_object_or_404(Datasource, pk=pk)).data)
