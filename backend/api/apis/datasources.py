"""Datasources: listed for every user; registered by the platform's data control logger (staff)."""

from __future__ import annotations

import base64
import binascii

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.models import Datasource
from backend.api.pagination import Page
from backend.api.services.datasources import datasource_register


class DatasourceOutput(serializers.ModelSerializer):
    class Meta:
        model = Datasource
        fields = ["id", "datasource_id", "topic", "format", "description", "counts", "input_shape", "classes",
                  "sha256", "control_topic", "control_partition", "control_offset", "message", "created_at"]


class DatasourceRegisterInput(serializers.Serializer):
    control_topic = serializers.RegexField(r"^[A-Za-z0-9._-]{1,249}$")
    partition = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    offset = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    record = serializers.CharField(max_length=400_000, help_text="The record's value, base64.")

    def validate_record(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("expected base64") from None


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


class DatasourceRegisterApi(APIView):
    """Idempotent per control record (topic, partition, offset): 201 the first time, 200 after."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=DatasourceRegisterInput, responses={200: DatasourceOutput, 201: DatasourceOutput},
                   operation_id="datasources_register")
    def post(self, request):
        data = DatasourceRegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        datasource, new = datasource_register(**data.validated_data)
        return Response(DatasourceOutput(datasource).data, status=201 if new else 200)


class DatasourceDetailApi(APIView):
    @extend_schema(responses=DatasourceOutput, operation_id="datasources_retrieve")
    def get(self, request, pk: int):
        return Response(DatasourceOutput(get_object_or_404(Datasource, pk=pk)).data)
