"""The platform's chain: is it reachable, which contracts, and each training's on-chain state."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import selectors
from backend.api.environment import platform_settings
from backend.api.services.chain import chain_status, platform_contracts
from kafkaml.ledger import LedgerError
from kafkaml.services.api import Unavailable


class ChainStatusOutput(serializers.Serializer):
    configured = serializers.BooleanField()
    reachable = serializers.BooleanField()
    chain_id = serializers.IntegerField(required=False, allow_null=True)
    factory = serializers.CharField(required=False, allow_null=True)
    token = serializers.CharField(required=False, allow_null=True)
    blockscout_url = serializers.CharField(required=False, allow_null=True)


class ClientBalanceOutput(serializers.Serializer):
    client = serializers.CharField()
    sample_ceiling = serializers.IntegerField(allow_null=True)
    earned = serializers.CharField(help_text="Token base units (18 decimals), as a decimal string.")
    paid = serializers.CharField()
    balance = serializers.CharField()


class TrainingChainOutput(serializers.Serializer):
    contract_address = serializers.CharField()
    phase = serializers.CharField()
    versions = serializers.IntegerField()
    budget = serializers.CharField()
    credited = serializers.CharField()
    announcement_hash = serializers.CharField(allow_null=True)
    explorer_url = serializers.CharField(allow_null=True)
    clients = ClientBalanceOutput(many=True)


class ChainStatusApi(APIView):
    error_codes = {"POST": ("503",)}  # the chain cannot deploy the platform, or none is configured

    @extend_schema(responses=ChainStatusOutput, operation_id="chain_status")
    def get(self, request):
        return Response(chain_status())

    @extend_schema(request=None, responses=ChainStatusOutput, operation_id="chain_deploy")
    def post(self, request):
        """Deploy the platform's contracts now (staff; idempotent: once per chain), so clients can
        be told the token before the first blockchain deployment."""
        if not request.user.is_staff:
            raise PermissionDenied("only staff may deploy the platform's contracts")
        platform_contracts()
        return Response(chain_status())


class ResultChainApi(APIView):
    """A blockchain training as its contract records it (events and balances), read now."""

    error_codes = {"GET": ("400", "503")}  # 400: a classic training has no contract

    @extend_schema(responses=TrainingChainOutput, operation_id="results_chain")
    def get(self, request, pk: int):
        result = selectors.result_of(request.user, pk)
        if not result.contract_address:
            raise serializers.ValidationError({"detail": ["this training has no contract (classic mode)"]})
        from kafkaml.ledger.reader import TrainingReader

        site = platform_settings()
        try:
            ledger = TrainingReader.open(site.rpc_url, result.contract_address)
            audit = ledger.history()
            clients = [{"client": client, "sample_ceiling": audit.sample_ceilings.get(client),
                        "earned": str(audit.earned.get(client, 0)), "paid": str(audit.paid.get(client, 0)),
                        "balance": str(ledger.token_balance(client))} for client in audit.clients]
        except LedgerError as exc:
            raise Unavailable(f"the chain cannot be read: {exc}") from None
        base = site.blockscout_url
        return Response({
            "contract_address": result.contract_address, "phase": audit.phase.name.lower(),
            "versions": len(audit.versions), "budget": str(audit.training.budget), "credited": str(audit.credited),
            "announcement_hash": "0x" + audit.announcement_hash.hex() if audit.announcement_hash else None,
            "explorer_url": f"{base}/address/{result.contract_address}" if base else None, "clients": clients,
        })
