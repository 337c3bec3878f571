"""Deployments: start trainings — federated, or single or incremental on one of the platform's
datasources; every setting validated, and held to the platform's quotas, before anything is
launched."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.models import Deployment
from backend.api.services.deployments import TrainingSettings, deployment_create
from backend.api.services.ml_models import not_ready
from backend.api.services.quotas import check_settings
from kafkaml.model_source import KwargsError, validate_kwargs
from kafkaml.rewards import POLICIES, parse_token_amount
from kafkaml.services.registry.models import Datasource
from kafkaml.services.rest import Page, StrictCharField
from kafkaml.strategies import STRATEGIES, StrategyError, check_rounds_fill, make_strategy

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class ClientInput(serializers.Serializer):
    identity = StrictCharField(max_length=100, help_text="Address (blockchain) or client id (classic).")
    sample_ceiling = serializers.IntegerField(min_value=1, max_value=2**32 - 1,
                                              help_text="The size of the data the client matched.")


class DeploymentInput(serializers.Serializer):
    configuration = serializers.IntegerField(min_value=1, max_value=2**62)
    kind = serializers.ChoiceField(
        choices=Deployment.Kind.values, default=Deployment.Kind.FEDERATED,
        help_text="federated: clients train, the platform aggregates; single: the platform trains each model on "
                  "validation_datasource (its train, validation and test splits); incremental: single, then on the "
                  "records that arrive after the datasource's ranges.")
    validation_datasource = serializers.IntegerField(
        min_value=1, max_value=2**62,
        help_text="Federated: the platform's datasource that measures every update; single and incremental: the "
                  "datasource trained on.")
    coordination = serializers.ChoiceField(choices=["blockchain", "classic"], default="blockchain")
    rounds = serializers.IntegerField(min_value=1, max_value=100_000, default=10)
    epochs = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    batch = serializers.IntegerField(min_value=1, max_value=1_000_000, default=32)
    fit_kwargs = serializers.DictField(default=dict)
    val_kwargs = serializers.DictField(default=dict)
    strategy = serializers.ChoiceField(choices=list(STRATEGIES), default="fedasync")
    strategy_params = serializers.DictField(default=dict)
    min_data = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
    data_restriction = serializers.DictField(default=dict)
    reward_policy = serializers.ChoiceField(choices=list(POLICIES), default="improvement")
    reward_base = StrictCharField(max_length=40, default="1")
    reward_budget = StrictCharField(max_length=40, allow_blank=True, default="")
    reject_ratio = serializers.FloatField(min_value=1.0, max_value=1e6, default=1.5)
    exclude_after = serializers.IntegerField(
        min_value=0, max_value=1_000_000, default=0,
        help_text="Exclude a client after this many rejected updates (0: never): its later updates are rejected "
                  "unread as excluded_client.")
    sample_weighting = serializers.ChoiceField(choices=["capped", "equal"], default="capped")
    clients = ClientInput(many=True, max_length=10_000, required=False, default=list)
    stream_timeout_s = serializers.FloatField(
        min_value=0, max_value=30 * 86_400, default=0.0,
        help_text="Incremental: seconds without a new record after which the training ends (0: runs until stopped).")
    window = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1000,
                                      help_text="Incremental: records per increment.")
    monitor_metric = StrictCharField(max_length=40, default="val_loss",
                                     help_text="Incremental: the validation metric that decides whether a new "
                                               "version is served (val_loss, val_accuracy, ...).")
    monitor_mode = serializers.ChoiceField(choices=["min", "max"], default="min",
                                           help_text="Incremental: whether the metric improves going down or up.")
    improvement = serializers.FloatField(min_value=0, max_value=1e6, default=0.0,
                                         help_text="Incremental: how much the metric must improve on the served "
                                                   "version's for a new one to replace it.")

    def validate_fit_kwargs(self, value: dict) -> dict:
        return _kwargs("fit", value)

    def validate_val_kwargs(self, value: dict) -> dict:
        return _kwargs("evaluate", value)

    def validate_reward_base(self, value: str) -> str:
        return _tokens(value)

    def validate_reward_budget(self, value: str) -> str:
        return _tokens(value) if value.strip() else ""

    def validate_monitor_metric(self, value: str) -> str:
        if not re.fullmatch(r"val_[a-z_]{1,36}", value):
            raise serializers.ValidationError("a validation metric of the model: val_loss, val_accuracy, ...")
        return value

    def validate(self, data: dict) -> dict:
        if data["kind"] != Deployment.Kind.FEDERATED:
            if data["clients"]:
                raise serializers.ValidationError({"clients": [f"a {data['kind']} training has no clients: the "
                                                               "platform trains on its own datasource"]})
            return data
        try:
            strategy = make_strategy(data["strategy"], data["strategy_params"])
            if data["clients"]:
                check_rounds_fill(strategy, len(data["clients"]))
        except StrategyError as exc:
            raise serializers.ValidationError({"strategy_params": [str(exc)]}) from None
        identity = _ADDRESS if data["coordination"] == "blockchain" else _CLIENT_ID
        if data["coordination"] == "blockchain" and not data["clients"]:
            raise serializers.ValidationError({"clients": ["a blockchain deployment names at least one client: "
                                                           "only registered clients may train and be paid"]})
        for client in data["clients"]:
            if not identity.fullmatch(client["identity"]):
                kind = "a 0x address" if data["coordination"] == "blockchain" else "a client id"
                raise serializers.ValidationError({"clients": [f"{client['identity']!r} is not {kind}"]})
        return data


def _kwargs(kind: str, value: dict) -> dict:
    try:
        return validate_kwargs(kind, value)
    except KwargsError as exc:
        raise serializers.ValidationError(str(exc)) from None


def _tokens(value: str) -> str:
    try:
        parse_token_amount(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value.strip()


class DeploymentOutput(serializers.ModelSerializer):
    results = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "configuration", "kind", "validation_datasource", "coordination", "settings", "clients",
                  "results", "created_at"]


class DeploymentListApi(APIView):
    error_codes = {"POST": ("429", "503")}  # 429: the user's trainings running at once are at the quota
    pagination_class = Page

    @extend_schema(responses=DeploymentOutput(many=True), operation_id="deployments_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.deployments_of(request.user).prefetch_related("results"),
                                           request, self)
        return paginator.get_paginated_response(DeploymentOutput(page, many=True).data)

    @extend_schema(request=DeploymentInput, responses={201: DeploymentOutput}, operation_id="deployments_create")
    def post(self, request):
        data = DeploymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        configuration = selectors.configurations_of(request.user).filter(pk=values.pop("configuration")).first()
        if configuration is None:
            raise serializers.ValidationError({"configuration": ["no configuration of yours with this id"]})
        unready = not_ready(configuration.ml_models.all())
        if unready:
            raise serializers.ValidationError({"configuration": [unready]})
        datasource = Datasource.objects.filter(pk=values.pop("validation_datasource")).first()
        if datasource is None:
            raise serializers.ValidationError({"validation_datasource": ["no such datasource"]})
        clients = {client["identity"]: client["sample_ceiling"] for client in values.pop("clients")}
        check_settings(user=request.user, base=values["reward_base"], budget=values["reward_budget"],
                       rounds=values["rounds"], clients=clients)
        deployment = deployment_create(owner=request.user, configuration=configuration,
                                       validation_datasource=datasource, settings=TrainingSettings(**values),
                                       clients=clients)
        return Response(DeploymentOutput(deployment).data, status=201)


class DeploymentDetailApi(APIView):
    @extend_schema(responses=DeploymentOutput, operation_id="deployments_retrieve")
    def get(self, request, pk: int):
        return Response(DeploymentOutput(get_object_or_404(selectors.deployments_of(request.user), pk=pk)).data)
