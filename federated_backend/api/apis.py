"""The federated backend's endpoints: announced models, the model control logger's registration,
participations (approve, decline, stop, logs), and this client's wallet."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from federated_backend.api.environment import client_settings
from federated_backend.api.models import AnnouncedModel, Participation
from federated_backend.api.services import trainers
from federated_backend.api.services.announcements import announcement_register, next_offset
from federated_backend.api.services.participations import (
    on_chain,
    participation_approve,
    participation_decline,
    participation_stop,
    refresh,
)
from kafkaml.services.registry.apis import ControlRecordInput, ProgressInput, ProgressOutput
from kafkaml.services.registry.auth import RelayOnly
from kafkaml.services.rest import Page


class AnnouncedModelOutput(serializers.ModelSerializer):
    size = serializers.IntegerField(help_text="The record's size in the topic, in bytes.")
    excerpt = serializers.CharField(help_text="A rejected record's first bytes, as text (\\xNN: not UTF-8).")

    class Meta:
        model = AnnouncedModel
        fields = ["id", "model_id", "state", "reason", "coordination", "contract_address", "sha256", "size", "excerpt",
                  "control_topic", "control_partition", "control_offset", "message", "created_at"]


class ParticipationOutput(serializers.ModelSerializer):
    model_id = serializers.CharField(source="model.model_id")
    datasource_id = serializers.CharField(source="datasource.datasource_id")

    class Meta:
        model = Participation
        fields = ["id", "model", "model_id", "datasource", "datasource_id", "state", "reason", "job", "created_at",
                  "updated_at"]


class AnnouncementRegistrationOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["registered", "known"])
    model = AnnouncedModelOutput()


class LogsOutput(serializers.Serializer):
    job = serializers.CharField()
    logs = serializers.CharField()


class WalletOutput(serializers.Serializer):
    client_id = serializers.CharField()
    address = serializers.CharField()
    site_policy = serializers.CharField()
    max_running_trainers = serializers.IntegerField()


class ModelListApi(APIView):
    pagination_class = Page

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=list(AnnouncedModel.State.values))],
                   responses=AnnouncedModelOutput(many=True), operation_id="announced_models_list")
    def get(self, request):
        models = AnnouncedModel.objects.all()
        state = request.query_params.get("state")
        if state is not None:
            if state not in AnnouncedModel.State.values:
                raise serializers.ValidationError({"state": [f"one of {', '.join(AnnouncedModel.State.values)}"]})
            models = models.filter(state=state)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(models, request, self)
        return paginator.get_paginated_response(AnnouncedModelOutput(page, many=True).data)


class ModelRegisterApi(RelayOnly, APIView):
    """The model control logger's endpoint, idempotent per control record."""

    error_codes = {"POST": ("503",)}  # an accepted announcement schedules trainers: the launcher failed

    @extend_schema(request=ControlRecordInput, responses={200: AnnouncementRegistrationOutput, 201: AnnouncementRegistrationOutput},
                   operation_id="announced_models_register")
    def post(self, request):
        data = ControlRecordInput(data=request.data)
        data.is_valid(raise_exception=True)
        position, record = data.control_record()
        model, new = announcement_register(**position, record=record)
        return Response({"status": "registered" if new else "known", "model": AnnouncedModelOutput(model).data},
                        status=201 if new else 200)


class ModelProgressApi(RelayOnly, APIView):

    @extend_schema(parameters=[OpenApiParameter("control_topic", str, required=True),
                               OpenApiParameter("partition", int)],
                   responses=ProgressOutput, operation_id="announced_models_register_progress")
    def get(self, request):
        data = ProgressInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response({"next_offset": next_offset(**data.validated_data)})


class ParticipationListApi(APIView):
    error_codes = {"GET": ("503",)}  # the launcher cannot say how the running trainers are
    pagination_class = Page

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=list(Participation.State.values))],
                   responses=ParticipationOutput(many=True), operation_id="participations_list")
    def get(self, request):
        refresh()
        participations = Participation.objects.select_related("model", "datasource")
        state = request.query_params.get("state")
        if state is not None:
            if state not in Participation.State.values:
                raise serializers.ValidationError({"state": [f"one of {', '.join(Participation.State.values)}"]})
            participations = participations.filter(state=state)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(participations, request, self)
        return paginator.get_paginated_response(ParticipationOutput(page, many=True).data)


def _participation(pk: int) -> Participation:
    return get_object_or_404(Participation.objects.select_related("model", "datasource"), pk=pk)


class UpdateOutput(serializers.Serializer):
    sha256 = serializers.CharField()
    base_version = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    staleness = serializers.IntegerField(allow_null=True)
    accepted = serializers.BooleanField(allow_null=True)
    reward = serializers.CharField(help_text="Token base units (18 decimals).")
    reason = serializers.CharField(allow_blank=True)


class ParticipationChainOutput(ParticipationOutput):
    """A participation with what the training's contract records of this client (blockchain)."""

    updates = UpdateOutput(many=True)
    earned = serializers.CharField(allow_null=True)
    paid = serializers.CharField(allow_null=True)
    token_balance = serializers.CharField(allow_null=True)

    class Meta(ParticipationOutput.Meta):
        fields = [*ParticipationOutput.Meta.fields, "updates", "earned", "paid", "token_balance"]


class ParticipationDetailApi(APIView):
    error_codes = {"GET": ("503",)}

    @extend_schema(responses=ParticipationChainOutput, operation_id="participations_retrieve")
    def get(self, request, pk: int):
        refresh()
        participation = _participation(pk)
        return Response({**ParticipationOutput(participation).data, **on_chain(participation)})


class ParticipationApproveApi(APIView):
    """The data owner lets this model train on this datasource (site policy ``approval``)."""

    error_codes = {"POST": ("409", "503")}  # 409: not proposed or declined; 503: the launcher failed
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=ParticipationOutput, operation_id="participations_approve")
    def post(self, request, pk: int):
        return Response(ParticipationOutput(participation_approve(participation=_participation(pk))).data)


class ParticipationDeclineApi(APIView):
    error_codes = {"POST": ("409",)}  # not proposed or approved
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=ParticipationOutput, operation_id="participations_decline")
    def post(self, request, pk: int):
        return Response(ParticipationOutput(participation_decline(participation=_participation(pk))).data)


class ParticipationStopApi(APIView):
    error_codes = {"POST": ("409", "503")}  # 409: not running; 503: the launcher failed
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=ParticipationOutput, operation_id="participations_stop")
    def post(self, request, pk: int):
        return Response(ParticipationOutput(participation_stop(participation=_participation(pk))).data)


class ParticipationLogsApi(APIView):
    error_codes = {"GET": ("503",)}

    @extend_schema(responses=LogsOutput, operation_id="participations_logs")
    def get(self, request, pk: int):
        participation = _participation(pk)
        return Response({"job": participation.job, "logs": trainers.logs(participation)})


class WalletApi(APIView):
    @extend_schema(responses=WalletOutput, operation_id="client_wallet")
    def get(self, request):
        site = client_settings()
        return Response({"client_id": site.client_id, "address": site.wallet_address, "site_policy": site.site_policy,
                         "max_running_trainers": site.max_running})
