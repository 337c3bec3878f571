"""Inference deployments: serve a finished training's model on Kafka topics; list, read, stop and
delete them; summarise their newest answers (the UI's live view). Every setting is checked before anything is recorded: topic names by Kafka's rules,
the input configuration by the worker's own codec (``kafkaml.codecs.sample_codec``), and (by the
service) its samples' shape against the model's input."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.apis.results import StopOutput
from backend.api.models import Inference, TrainingResult
from backend.api.services import predictions
from backend.api.services.inferences import (
    InferenceSettings,
    inference_create,
    inference_delete,
    inference_rollout,
    inference_stop,
)
from kafkaml.codecs import SAMPLE_FORMATS, SampleError, sample_codec
from kafkaml.jobs.spec import MAX_REPLICAS
from kafkaml.services.rest import Page, StrictCharField, StrictRegexField

TOPIC = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$"
#: ``host:port`` pairs, comma-separated: what a Kafka client is given, nothing else.
_SERVER = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?:[0-9]{1,5}$")
MAX_SERVERS = 16
MAX_BATCH = 10_000


class InferenceInput(serializers.Serializer):
    result = serializers.IntegerField(min_value=1, max_value=2**62, help_text="A finished training result of yours.")
    replicas = serializers.IntegerField(min_value=1, max_value=MAX_REPLICAS, default=1,
                                        help_text="Workers of one consumer group: they share the input's partitions.")
    input_format = serializers.ChoiceField(choices=list(SAMPLE_FORMATS))
    input_config = serializers.DictField(
        help_text="The earlier Kafka-ML's input configuration: RAW {data_type, data_reshape}, AVRO "
                  "{data_scheme, data_reshape}.")
    input_topic = StrictRegexField(TOPIC)
    output_topic = StrictRegexField(TOPIC)
    error_topic = StrictRegexField(TOPIC, required=False,
                                   help_text="Where a record that is not a sample is answered with the reason "
                                             "(default: <output_topic>-errors).")
    bootstrap_servers = StrictCharField(max_length=1000, allow_blank=True, default="",
                                        help_text="host:port,... of the Kafka of both topics (default: the "
                                                  "platform's).")
    batch = serializers.IntegerField(min_value=1, max_value=MAX_BATCH, allow_null=True, default=None)

    def validate_bootstrap_servers(self, value: str) -> str:
        servers = [server.strip() for server in value.split(",")] if value.strip() else []
        if len(servers) > MAX_SERVERS or not all(_SERVER.fullmatch(server) for server in servers):
            raise serializers.ValidationError(f"expected up to {MAX_SERVERS} host:port pairs separated by commas")
        return ",".join(servers)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("error_topic", f"{data['output_topic']}-errors")
        if len(data["error_topic"]) > 249:
            raise serializers.ValidationError({"error_topic": ["<output_topic>-errors is longer than a topic name "
                                                               "may be (249): name the error topic"]})
        if data["output_topic"] == data["input_topic"]:
            raise serializers.ValidationError({"output_topic": ["must differ from the input topic (a prediction "
                                                                "must never be read as a sample)"]})
        if data["error_topic"] in (data["input_topic"], data["output_topic"]):
            raise serializers.ValidationError({"error_topic": ["must differ from the input and output topics"]})
        try:
            data["codec"] = sample_codec(data["input_format"], data["input_config"])
        except SampleError as exc:
            raise serializers.ValidationError({"input_config": [str(exc)]}) from None
        return data


class InferenceOutput(serializers.ModelSerializer):
    model_name = serializers.CharField(source="result.ml_model.name")

    class Meta:
        model = Inference
        fields = ["id", "result", "model_name", "status", "error", "replicas", "input_format", "input_config",
                  "input_topic", "output_topic", "error_topic", "bootstrap_servers", "batch", "model_sha256",
                  "created_at", "stopped_at"]


def _result_of(user, result_id: int) -> TrainingResult:
    result = selectors.results_of(user).filter(pk=result_id).first()
    if result is None:
        raise serializers.ValidationError({"result": ["no training result of yours with this id"]})
    return result


class InferenceListApi(APIView):
    error_codes = {"POST": ("409", "429", "503")}  # 409: the result has no final model; 429: replicas quota
    pagination_class = Page

    @extend_schema(responses=InferenceOutput(many=True), operation_id="inferences_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.inferences_of(request.user), request, self)
        return paginator.get_paginated_response(InferenceOutput(page, many=True).data)

    @extend_schema(request=InferenceInput, responses={201: InferenceOutput}, operation_id="inferences_create")
    def post(self, request):
        data = InferenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        codec = values.pop("codec")
        result = _result_of(request.user, values.pop("result"))
        inference = inference_create(owner=request.user, result=result, settings=InferenceSettings(**values),
                                     sample_shape=codec.shape)
        return Response(InferenceOutput(inference).data, status=201)


class InferenceDetailApi(APIView):
    error_codes = {"DELETE": ("409", "503")}  # 409: stop it first

    @extend_schema(responses=InferenceOutput, operation_id="inferences_retrieve")
    def get(self, request, pk: int):
        return Response(InferenceOutput(selectors.inference_of(request.user, pk)).data)

    @extend_schema(responses={204: None}, operation_id="inferences_destroy")
    def delete(self, request, pk: int):
        inference_delete(inference=selectors.inference_of(request.user, pk))
        return Response(status=204)


class InferenceStopApi(APIView):
    error_codes = {"POST": ("409", "503")}

    @extend_schema(request=None, responses=StopOutput, operation_id="inferences_stop")
    def post(self, request, pk: int):
        return Response({"stopped": inference_stop(inference=selectors.inference_of(request.user, pk))})


class InferenceRolloutApi(APIView):
    """Serve the training's newest model (an incremental training's new version): the workers
    restart with it in the same consumer group, losing and repeating no sample."""

    error_codes = {"POST": ("409", "503")}  # 409: not running, or it serves the newest model already

    @extend_schema(request=None, responses=InferenceOutput, operation_id="inferences_rollout")
    def post(self, request, pk: int):
        return Response(InferenceOutput(inference_rollout(inference=selectors.inference_of(request.user, pk))).data)


class PredictionsQuery(serializers.Serializer):
    window = serializers.IntegerField(min_value=1, max_value=predictions.MAX_WINDOW, default=100,
                                      help_text="How many of the output topic's newest records to read.")


class ClassCountOutput(serializers.Serializer):
    class_index = serializers.IntegerField()
    count = serializers.IntegerField()


class SpanOutput(serializers.Serializer):
    partition = serializers.IntegerField()
    first = serializers.IntegerField(help_text="The oldest offset read (inclusive).")
    last = serializers.IntegerField(help_text="The newest offset read (inclusive).")


class PredictionsOutput(serializers.Serializer):
    window = serializers.IntegerField()
    read = serializers.IntegerField(help_text="Records read (at most the window).")
    invalid = serializers.IntegerField(help_text="Records read that are not answers of the worker's shape.")
    classes = ClassCountOutput(many=True, help_text="Class answers per class index, ascending.")
    values = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()),
                                   help_text="Regression answers' first numbers (flattened), oldest first.")
    partitions = SpanOutput(many=True, source="spans")
    complete = serializers.BooleanField(help_text="False when the short read stopped before every partition's end.")


class InferencePredictionsApi(APIView):
    """The newest answers on the inference's output topic, summarised: what the UI's live view polls."""

    error_codes = {"GET": ("409", "503")}  # 409: its topics are on another Kafka than the platform's

    @extend_schema(parameters=[PredictionsQuery], responses=PredictionsOutput, operation_id="inferences_predictions")
    def get(self, request, pk: int):
        inference = selectors.inference_of(request.user, pk)
        query = PredictionsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.validated_data["window"]
        summary = predictions.inference_predictions(inference=inference, window=window)
        classes = [{"class_index": index, "count": count} for index, count in summary.classes.items()]
        return Response(PredictionsOutput({**vars(summary), "classes": classes, "window": window}).data)
