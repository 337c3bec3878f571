"""Audits of a training: start one (users), list them, and the audit job's verdict endpoint."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.auth import IsTheAudit, JobTokenAuthentication
from backend.api.models import Audit
from backend.api.services.audits import audit_report, audit_start, audits_sync
from kafkaml.services.rest import StrictCharField


class AuditOutput(serializers.ModelSerializer):
    class Meta:
        model = Audit
        fields = ["id", "result", "status", "report", "created_at", "finished_at"]


class AuditVerdictInput(serializers.Serializer):
    ok = serializers.BooleanField()
    strategy = StrictCharField(max_length=10_000, required=False)
    first_mismatch = serializers.IntegerField(allow_null=True, required=False)
    error = StrictCharField(max_length=10_000, required=False)
    checks = serializers.ListField(child=serializers.DictField(), max_length=100_000)


class ResultAuditsApi(APIView):
    error_codes = {"GET": ("503",), "POST": ("400", "409", "503")}  # 400: a classic training has no chain

    @extend_schema(responses=AuditOutput(many=True), operation_id="results_audits_list")
    def get(self, request, pk: int):
        result = selectors.result_of(request.user, pk)
        audits_sync(result=result)
        return Response(AuditOutput(result.audits.all(), many=True).data)

    @extend_schema(request=None, responses={201: AuditOutput}, operation_id="results_audits_start")
    def post(self, request, pk: int):
        return Response(AuditOutput(audit_start(result=selectors.result_of(request.user, pk))).data, status=201)


class AuditVerdictApi(APIView):
    """The audit job posts its verdict here, with its own token (revoked once the verdict is in)."""

    authentication_classes = [JobTokenAuthentication]
    permission_classes = [IsTheAudit]

    @extend_schema(request=AuditVerdictInput, responses={200: None, 201: None}, operation_id="results_audits_verdict")
    def post(self, request, pk: int, audit_id: int):
        data = AuditVerdictInput(data=request.data)
        data.is_valid(raise_exception=True)
        stored = audit_report(audit=request.user.audit, report=dict(data.validated_data))
        return Response(status=201 if stored else 200)
