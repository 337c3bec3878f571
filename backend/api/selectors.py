"""Reads: what a user may see. A user sees their own models, configurations, deployments and
results; staff see everyone's. Datasources and the platform's chain are the platform's, seen by all."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
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
    """Each result with ``rounds_done``, counted by the database in the same query.

    A correlated subquery, not ``Count("rounds")``: the join and GROUP BY of the latter made every
    page (and its COUNT) aggregate the rounds of all the user's results. ``COUNT(*)`` reads the
    ``result_id`` index alone. The subquery runs once per row the query *reads*, which is why a
    list page selects its rows first (:class:`ResultPage`)."""
    rounds = (RoundRecord.objects.filter(result=OuterRef("pk")).order_by().values("result")
              .annotate(n=Count("*")).values("n"))
    return results.annotate(rounds_done=Coalesce(Subquery(rounds), 0))


#: What a results list shows of each result (apis.results.result_row); the rest (the model's
#: source and Keras JSON, the deployment's settings) stays in the database.
LIST_FIELDS = ("id", "deployment_id", "ml_model_id", "ml_model__name", "status", "federated_id",
               "aggregator_address", "contract_address", "error", "final", "model_sha256", "rounds_done",
               "created_at", "started_at", "finished_at")


def result_list(results: QuerySet[TrainingResult]) -> QuerySet:
    """``results`` as a list page reads them: plain rows of the shown columns, with round counts."""
    return with_round_counts(results).select_related(None).values(*LIST_FIELDS)


class ResultPage:
    """``results`` as the list's paginator reads them (``count()`` and one slice): the slice is one
    query whose rows are those of a subquery selecting the page's ids.

    PostgreSQL computes a select-list subquery (the round count) for every row it reads, those
    skipped by OFFSET included: counting rounds in the paged query itself made page 20 of 50
    results count the rounds of 1,000 results. Here only the page's rows are counted."""

    def __init__(self, results: QuerySet[TrainingResult]) -> None:
        self.results = results

    def count(self) -> int:
        return self.results.count()

    def __getitem__(self, page: slice) -> list[dict]:
        ids = self.results.order_by("-pk").values("pk")[page]
        return list(result_list(TrainingResult.objects.filter(pk__in=Subquery(ids))).order_by("-pk"))


def result_of(user, pk: int) -> TrainingResult:
    """The result if the user may see it; 404 otherwise (another user's result does not exist for them)."""
    return get_object_or_404(with_round_counts(results_of(user)), pk=pk)


def rounds_of(result: TrainingResult, *, after: int | None = None) -> QuerySet[RoundRecord]:
    rounds = result.rounds.all()
    return rounds.filter(version__gt=after) if after is not None else rounds
