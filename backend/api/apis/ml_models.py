"""Models and configurations."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.models import Configuration, MLModel
from backend.api.services.configurations import configuration_create, configuration_delete
from backend.api.services.ml_models import model_create, model_delete, model_update, not_ready
from kafkaml.services.rest import Page, StrictCharField


class ModelInput(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=10_000, allow_blank=True, default="")
    source = StrictCharField(max_length=200_000, trim_whitespace=False)


class ModelUpdateInput(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=10_000, allow_blank=True, required=False)
    source = StrictCharField(max_length=200_000, trim_whitespace=False, required=False)


class LayerOutput(serializers.Serializer):
    name = serializers.CharField()
    class_name = serializers.CharField(source="class")
    parameters = serializers.IntegerField()
    output_shape = serializers.ListField(child=serializers.IntegerField(allow_null=True), allow_null=True)


class ModelOutput(serializers.ModelSerializer):
    """A model and its build: ``building`` (queued or running), then ``ready`` with what the builder
    found (parameters, shapes, layers) or ``failed`` with the builder's ``error`` and its ``line``."""

    status = serializers.ChoiceField(choices=MLModel.Status.choices, read_only=True)
    error = serializers.CharField(read_only=True, help_text="Why the build failed; empty unless failed.")
    line = serializers.IntegerField(read_only=True, allow_null=True,
                                    help_text="The source line of the build error, where the builder knows it.")
    parameters = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null until ready.")
    layers = LayerOutput(many=True)
    input_shape = serializers.ListField(child=serializers.IntegerField(allow_null=True), allow_null=True)
    output_shape = serializers.ListField(child=serializers.IntegerField(allow_null=True), allow_null=True)
    owner = serializers.CharField(source="owner.username")

    class Meta:
        model = MLModel
        fields = ["id", "name", "description", "source", "status", "error", "line", "parameters", "input_shape",
                  "output_shape", "layers", "owner", "created_at", "updated_at"]


class ModelListApi(APIView):
    pagination_class = Page
    error_codes = {"POST": ("429", "503")}  # too many builds in flight; the builder's sandbox cannot be created here

    @extend_schema(responses=ModelOutput(many=True), operation_id="models_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.models_of(request.user).select_related("owner"), request, self)
        return paginator.get_paginated_response(ModelOutput(page, many=True).data)

    @extend_schema(request=ModelInput, responses={201: ModelOutput}, operation_id="models_create",
                   description="Store the model and queue its build: the answer comes at once, in state `building`; "
                               "poll the model until it is `ready` or `failed`. A source that does not parse is a "
                               "400 with its `line`; too many builds of yours in flight, a 429.")
    def post(self, request):
        data = ModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_create(owner=request.user, **data.validated_data)
        return Response(ModelOutput(model).data, status=201)


class ModelDetailApi(APIView):
    error_codes = {"PATCH": ("409", "429", "503"), "DELETE": ("409",)}  # 429, 503: as POST /models/

    def _model(self, request, pk: int) -> MLModel:
        return get_object_or_404(selectors.models_of(request.user), pk=pk)

    @extend_schema(responses=ModelOutput, operation_id="models_retrieve")
    def get(self, request, pk: int):
        return Response(ModelOutput(self._model(request, pk)).data)

    @extend_schema(request=ModelUpdateInput, responses=ModelOutput, operation_id="models_update",
                   description="A new source is checked and rebuilt as on creation (state `building` again); it "
                               "cannot change while the model is being built or once it was trained (409).")
    def patch(self, request, pk: int):
        model = self._model(request, pk)
        data = ModelUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ModelOutput(model_update(model=model, **data.validated_data)).data)

    @extend_schema(responses={204: None}, operation_id="models_destroy")
    def delete(self, request, pk: int):
        model_delete(model=self._model(request, pk))
        return Response(status=204)


class ConfigurationInput(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=10_000, allow_blank=True, default="")
    ml_models = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**62), min_length=1,
                                      max_length=50)


class ConfigurationOutput(serializers.ModelSerializer):
    ml_models = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    deployments = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Configuration
        fields = ["id", "name", "description", "ml_models", "deployments", "created_at"]


class ConfigurationListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=ConfigurationOutput(many=True), operation_id="configurations_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.configurations_of(request.user).prefetch_related("deployments"), request, self)
        return paginator.get_paginated_response(ConfigurationOutput(page, many=True).data)

    @extend_schema(request=ConfigurationInput, responses={201: ConfigurationOutput},
                   operation_id="configurations_create")
    def post(self, request):
        data = ConfigurationInput(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = set(data.validated_data["ml_models"])
        models = list(selectors.models_of(request.user).filter(pk__in=wanted))
        missing = wanted - {model.pk for model in models}
        if missing:
            raise serializers.ValidationError({"ml_models": [f"no model of yours with id {sorted(missing)[0]}"]})
        unready = not_ready(models)
        if unready:
            raise serializers.ValidationError({"ml_models": [unready]})
        configuration = configuration_create(owner=request.user, name=data.validated_data["name"],
                                             description=data.validated_data["description"], ml_models=models)
        return Response(ConfigurationOutput(configuration).data, status=201)


class ConfigurationDetailApi(APIView):
    error_codes = {"DELETE": ("409",)}

    def _configuration(self, request, pk: int) -> Configuration:
        return get_object_or_404(selectors.configurations_of(request.user), pk=pk)

    @extend_schema(responses=ConfigurationOutput, operation_id="configurations_retrieve")
    def get(self, request, pk: int):
        return Response(ConfigurationOutput(self._configuration(request, pk)).data)

    @extend_schema(responses={204: None}, operation_id="configurations_destroy")
    def delete(self, request, pk: int):
        configuration_delete(configuration=self._configuration(request, pk))
        return Response(status=204)
