"""The aggregation strategies and reward policies a deployment may choose, with their parameters'
defaults and meaning (read-only; the texts live beside the code in kafkaml.strategies / rewards)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from kafkaml.rewards import POLICIES, POLICY_SUMMARIES
from kafkaml.strategies import strategy_catalogue


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}]})
class NumberOrText(serializers.JSONField):
    """A parameter's default: a number, or the chosen option of a choice parameter."""


class StrategyParameterOutput(serializers.Serializer):
    name = serializers.CharField()
    value_type = serializers.ChoiceField(choices=["number", "integer", "choice"])
    default = NumberOrText(help_text="The value used when the parameter is left out.")
    description = serializers.CharField(help_text="Its meaning, range and default.")
    choices = serializers.ListField(child=serializers.CharField(), help_text="The options of a choice parameter.")
    when = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                 help_text="Only allowed when these other parameters have one of these values "
                                           '(e.g. {"staleness": ["hinge"]}); empty: always.')


class StrategyOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    updates_per_round = serializers.IntegerField(help_text="Updates one new global version consumes (defaults).")
    discounts_staleness = serializers.BooleanField()
    parameters = StrategyParameterOutput(many=True)


class PolicyOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class StrategyListOutput(serializers.Serializer):
    strategies = StrategyOutput(many=True)
    reward_policies = PolicyOutput(many=True)


class StrategyListApi(APIView):
    @extend_schema(responses=StrategyListOutput, operation_id="strategies_list")
    def get(self, request):
        policies = [{"name": name, "description": POLICY_SUMMARIES[name]} for name in POLICIES]
        return Response(StrategyListOutput({"strategies": strategy_catalogue(), "reward_policies": policies}).data)
