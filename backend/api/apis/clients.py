"""The clients (data owners) seen in the user's trainings, with their participations and balances."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.services.clients import client_list

_UNITS = "Token base units (18 decimals), as a decimal string."


class ParticipationOutput(serializers.Serializer):
    result = serializers.IntegerField()
    model_name = serializers.CharField()
    status = serializers.CharField()
    contract_address = serializers.CharField()
    sample_ceiling = serializers.IntegerField(allow_null=True)
    accepted = serializers.IntegerField(help_text="Updates of this client accepted in the training's rounds.")
    rejected = serializers.IntegerField()
    earned = serializers.CharField(help_text=_UNITS)


class ClientOutput(serializers.Serializer):
    client = serializers.CharField(help_text="The client's identity (its address in blockchain mode).")
    trainings = ParticipationOutput(many=True)
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    earned = serializers.CharField(help_text=_UNITS)
    balance = serializers.CharField(allow_null=True, help_text=f"{_UNITS} Null when the chain cannot be read.")


class ClientListOutput(serializers.Serializer):
    clients = ClientOutput(many=True)
    chain_error = serializers.CharField(allow_blank=True)


class ClientListApi(APIView):
    @extend_schema(responses=ClientListOutput, operation_id="clients_list")
    def get(self, request):
        return Response(ClientListOutput(client_list(user=request.user)).data)
