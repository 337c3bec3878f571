"""Reads: what a user may see. A user sees their own models, configurations, deployments and
results; staff see everyone's. Datasources and the platform's chain are the platform's, seen by all."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from backend.api.models import Configuration, Deployment, MLModel, RoundRecord, TrainingResult


def _owned(queryset: QuerySet, user, owner_field: str = "owner") -> QuerySet:
    return queryset if user.is_staff else queryset.filter(**{owner_field: user})


def models_of(user) -> QuerySet[MLModel]:
    return _owned(MLModel.objects.all(), user)


def configurations_of(user) -> QuerySet[Configuration]:
    return _owned(Configuration.objects.prefetch_related("ml_models"), user)


def deployments_of(user) -> QuerySet[Deployment]:
    return _owned(Deployment.objects.select_related("configuration"), user)


def results_of(user, *, status: str | None = None, deployment: int | None = None) -> QuerySet[TrainingResult]:
    results = _owned(TrainingResult.objects.select_related("ml_model", "deployment"), user, "deployment__owner")
    if status:
        results = results.filter(status=status)
    if deployment is not None:
        results = results.filter(deployment_id=deployment)
    return results


def with_round_counts(results: QuerySet[TrainingResult]) -> QuerySet[TrainingResult]:
    """Each result with ``rounds_done``, counted by the database in the same query."""
    return results.annotate(rounds_done=Count("rounds"))


def result_of(user, pk: int) -> TrainingResult:
    """The result if the user may see it; 404 otherwise (another user's result does not exist for them)."""
    return get_object_or_404(with_round_counts(results_of(user)), pk=pk)


def rounds_of(result: TrainingResult, *, after: int | None = None) -> QuerySet[RoundRecord]:
    rounds = result.rounds.all()
    return rounds.filter(version__gt=after) if after is not None else rounds
