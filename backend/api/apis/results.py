"""Training results: status, rounds (live), chart data, the final model, stop, delete; and the
job-only endpoints the training's jobs report through with their result-scoped token."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.auth import IsAPersonOrTheInference, IsTheAggregator, JobIdentity, JobTokenAuthentication
from backend.api.environment import platform_settings
from backend.api.models import Deployment, RoundRecord, TrainingResult
from backend.api.services.results import (
    model_path,
    result_delete,
    result_model_store,
    result_report,
    result_stop,
    result_sync,
)
from kafkaml.services.rest import Page, StrictCharField


class ResultOutput(serializers.ModelSerializer):
    model_name = serializers.CharField(source="ml_model.name")
    kind = serializers.CharField(source="deployment.kind", read_only=True,
                                 help_text="The deployment's kind: federated, single or incremental.")
    rounds_done = serializers.IntegerField(read_only=True, default=None, allow_null=True)
    explorer_url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingResult
        fields = ["id", "deployment", "kind", "ml_model", "model_name", "status", "federated_id", "aggregator_address",
                  "contract_address", "explorer_url", "error", "final", "model_sha256", "rounds_done",
                  "created_at", "started_at", "finished_at"]

    def get_explorer_url(self, result: TrainingResult) -> str | None:
        base = platform_settings().blockscout_url
        return f"{base}/address/{result.contract_address}" if base and result.contract_address else None


class ContributionOutput(serializers.Serializer):
    """An update screened in the round (rounds reported before a field existed lack it)."""

    client = serializers.CharField()
    samples = serializers.IntegerField()
    staleness = serializers.IntegerField()
    base_version = serializers.IntegerField(required=False)
    reward = serializers.CharField(help_text="Token base units (18 decimals), as a decimal string.")
    accepted = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it was rejected; empty when accepted.")
    sha256 = serializers.CharField()


class TransactionOutput(serializers.Serializer):
    hash = serializers.CharField()
    gas = serializers.IntegerField()
    block = serializers.IntegerField(required=False)


class PointerOutput(serializers.Serializer):
    """Records ``[start_offset, end_offset)`` of ``partition`` of ``topic`` hold the version's weights."""

    topic = serializers.CharField()
    partition = serializers.IntegerField()
    start_offset = serializers.IntegerField()
    end_offset = serializers.IntegerField()


class PrivacyOutput(serializers.Serializer):
    """Central differential privacy after the round: ε at δ spent by the rounds so far (the Gaussian
    mechanism composed ``rounds`` times, by ``accountant``), the clip S, noise multiplier σ, the
    noise's standard deviation σ·S/K and the seed it was drawn from (the audit re-derives it)."""

    epsilon = serializers.FloatField(allow_null=True, help_text="Null when there is no noise (no guarantee).")
    delta = serializers.FloatField()
    noise_multiplier = serializers.FloatField()
    clip = serializers.FloatField()
    rounds = serializers.IntegerField()
    noise_std = serializers.FloatField()
    seed = serializers.CharField()
    accountant = serializers.CharField()


class RoundOutput(serializers.ModelSerializer):
    """A global version: its metrics, its lineage (content hash, Kafka pointer, the updates it was
    built from) and, in blockchain mode, the transaction that recorded it."""

    contributions = ContributionOutput(many=True)
    transaction = TransactionOutput(allow_null=True)
    pointer = PointerOutput(allow_null=True)
    privacy = PrivacyOutput(allow_null=True)

    class Meta:
        model = RoundRecord
        fields = ["version", "val_loss", "val_accuracy", "elapsed_s", "sha256", "pointer", "contributions",
                  "transaction", "privacy", "received_at"]


class ChartOutput(serializers.Serializer):
    versions = serializers.ListField(child=serializers.IntegerField())
    val_loss = serializers.ListField(child=serializers.FloatField(allow_null=True))
    val_accuracy = serializers.ListField(child=serializers.FloatField(allow_null=True))
    elapsed_s = serializers.ListField(child=serializers.FloatField())


class ReportInput(serializers.Serializer):
    """The envelope the jobs' results sink sends (training_worker/results.py)."""

    result_id = StrictCharField(max_length=40, allow_blank=True)
    sender = StrictCharField(max_length=200)
    kind = serializers.ChoiceField(choices=["progress", "final"])
    time = StrictCharField(max_length=64)
    data = serializers.DictField()


class StopOutput(serializers.Serializer):
    stopped = serializers.ListField(child=serializers.CharField())


class ResultListApi(APIView):
    pagination_class = Page

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=list(TrainingResult.Status.values)),
                               OpenApiParameter("deployment", int)],
                   responses=ResultOutput(many=True), operation_id="results_list")
    def get(self, request):
        status = request.query_params.get("status")
        if status is not None and status not in TrainingResult.Status.values:
            raise serializers.ValidationError({"status": [f"one of {', '.join(TrainingResult.Status.values)}"]})
        deployment = request.query_params.get("deployment")
        if deployment is not None and not (deployment.isascii() and deployment.isdigit() and len(deployment) <= 18):
            raise serializers.ValidationError({"deployment": ["expected a deployment id"]})
        paginator = self.pagination_class()
        limit, offset = paginator.get_limit(request), paginator.get_offset(request)
        count, rows = selectors.result_page(request.user, status=status,
                                            deployment=int(deployment) if deployment is not None else None,
                                            limit=limit, offset=offset, explorer=platform_settings().blockscout_url or "")
        return paginator.rendered_page(request, limit, offset, count, rows)


class ResultDetailApi(APIView):
    error_codes = {"GET": ("503",), "DELETE": ("409", "503")}  # GET 503: the job launcher cannot say how the job is

    @extend_schema(responses=ResultOutput, operation_id="results_retrieve")
    def get(self, request, pk: int):
        return Response(ResultOutput(result_sync(result=selectors.result_of(request.user, pk))).data)

    @extend_schema(responses={204: None}, operation_id="results_destroy")
    def delete(self, request, pk: int):
        result_delete(result=selectors.result_of(request.user, pk))
        return Response(status=204)


class ResultRoundsApi(APIView):
    """The rounds recorded so far; ``after`` returns only newer ones (what a live view polls)."""

    @extend_schema(parameters=[OpenApiParameter("after", int)], responses=RoundOutput(many=True),
                   operation_id="results_rounds")
    def get(self, request, pk: int):
        after = request.query_params.get("after")
        if after is not None and (not after.isdigit() or len(after) > 9):
            raise serializers.ValidationError({"after": ["expected a version number"]})
        rounds = selectors.rounds_of(selectors.result_of(request.user, pk), after=int(after) if after else None)
        return Response(RoundOutput(rounds, many=True).data)


class ResultChartApi(APIView):
    @extend_schema(responses=ChartOutput, operation_id="results_chart")
    def get(self, request, pk: int):
        rounds = list(selectors.rounds_of(selectors.result_of(request.user, pk)).values_list(
            "version", "val_loss", "val_accuracy", "elapsed_s"))
        columns = list(zip(*rounds, strict=True)) if rounds else [(), (), (), ()]
        return Response(dict(zip(("versions", "val_loss", "val_accuracy", "elapsed_s"),
                                 (list(column) for column in columns), strict=True)))


class ResultStopApi(APIView):
    error_codes = {"POST": ("409", "503")}

    @extend_schema(request=None, responses=StopOutput, operation_id="results_stop")
    def post(self, request, pk: int):
        return Response({"stopped": result_stop(result=selectors.result_of(request.user, pk))})


class ResultModelApi(APIView):
    """GET (users, and the worker of one of the result's inferences with its job token): the final
    ``.keras`` file, its SHA-256 in ``X-Content-SHA256`` and the final global version's content
    hash in ``X-Weights-SHA256``. PUT (the result's job): upload it."""

    def get_authenticators(self):
        if self.request is not None and self.request.method == "PUT":
            return [JobTokenAuthentication()]
        return [JobTokenAuthentication(), *super().get_authenticators()]

    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsTheAggregator()]
        return [IsAPersonOrTheInference()]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   operation_id="results_model_download")
    def get(self, request, pk: int):
        identity = request.user
        result = identity.result if isinstance(identity, JobIdentity) else selectors.result_of(identity, pk)
        path = model_path(result)
        if not result.model_sha256 or not path.exists():
            raise NotFound("this training has no final model (yet)")
        response = FileResponse(open(path, "rb"), as_attachment=True,  # noqa: SIM115 (FileResponse closes it)
                                filename=f"{result.ml_model.name}-{result.pk}.keras",
                                content_type="application/octet-stream")
        response["X-Content-SHA256"] = result.model_sha256
        response["X-Framework"] = "tensorflow"
        final_hash = (result.final or {}).get("final_sha256")
        if final_hash:
            response["X-Weights-SHA256"] = final_hash
        return response

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses={204: None},
                   parameters=[OpenApiParameter("X-Content-SHA256", str, OpenApiParameter.HEADER, required=True)],
                   operation_id="results_model_upload")
    def put(self, request, pk: int):
        result = request.user.result
        length = request.META.get("CONTENT_LENGTH") or "0"
        result_model_store(result=result, stream=request._request, length=int(length) if length.isdigit() else 0,
                           sha256=request.headers.get("X-Content-SHA256", ""))
        return Response(status=204)


class ResultReportApi(APIView):
    """The training's job (its aggregator, or its single training) posts each round (each epoch or
    increment) and its final record here (idempotent)."""

    authentication_classes = [JobTokenAuthentication]
    permission_classes = [IsTheAggregator]

    @extend_schema(request=ReportInput, responses={200: None, 201: None}, operation_id="results_report")
    def post(self, request, pk: int):
        data = ReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = request.user.result
        expected = "aggregator" if result.deployment.kind == Deployment.Kind.FEDERATED else "single"
        if data.validated_data["sender"] != expected:
            raise serializers.ValidationError({"sender": [f"only this training's {expected} job reports to the platform"]})
        changed = result_report(result=result, kind=data.validated_data["kind"],
                                data=data.validated_data["data"])
        return Response(status=201 if changed else 200)


