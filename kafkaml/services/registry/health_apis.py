"""Health: whether the service answers and what it depends on is reachable (no authentication)."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthOutput(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.BooleanField()


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: HealthOutput, 503: HealthOutput}, operation_id="health")
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = True
        except Exception:  # any database failure makes the service unhealthy, never a 500
            database = False
        return Response({"status": "ok" if database else "degraded", "database": database},
                        status=200 if database else 503)
