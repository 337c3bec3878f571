"""Reads: what a user may see. A user sees their own models, configurations, deployments,
results and inferences; staff see everyone's. Datasources and the platform's chain are the platform's, seen by all."""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from backend.api.models import Configuration, Deployment, Inference, MLModel, RoundRecord, TrainingResult


def _owned(queryset: QuerySet, user, owner_field: str = "owner") -> QuerySet:
    return queryset if user.is_staff else queryset.filter(**{owner_field: user})


def models_of(user) -> QuerySet[MLModel]:
    return _owned(MLModel.objects.all(), user)


def configurations_of(user) -> QuerySet[Configuration]:
    return _owned(Configuration.objects.prefetch_related("ml_models"), user)


def deployments_of(user) -> QuerySet[Deployment]:
    return _owned(Deployment.objects.select_related("configuration"), user)


def results_of(user) -> QuerySet[TrainingResult]:
    return _owned(TrainingResult.objects.select_related("ml_model", "deployment"), user)


def with_round_counts(results: QuerySet[TrainingResult]) -> QuerySet[TrainingResult]:
    """Each result with ``rounds_done``, counted by the database in the same query.

    A correlated subquery, not ``Count("rounds")``: the join and GROUP BY of the latter made every
    page (and its COUNT) aggregate the rounds of all the user's results. ``COUNT(*)`` reads the
    ``result_id`` index alone."""
    rounds = (RoundRecord.objects.filter(result=OuterRef("pk")).order_by().values("result")
              .annotate(n=Count("*")).values("n"))
    return results.annotate(rounds_done=Coalesce(Subquery(rounds), 0))


def _iso_utc(column: str) -> str:
    """SQL rendering a ``timestamptz`` exactly as DRF does (``datetime.isoformat()`` in UTC with
    ``Z``: microseconds only when there are any), so list rows equal the result's own representation."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN EXTRACT(MICROSECONDS FROM {utc}) %% 1000000 = 0 "
            f"THEN '' ELSE to_char({utc}, '.US') END || 'Z'")


@functools.cache
def _result_page_sql(*, owner: bool, status: bool, deployment: bool) -> str:
    """One statement for a results list page: the total, and the page's rows rendered as a JSON
    array by PostgreSQL (the fields of ``apis.results.ResultOutput``, in its order).

    The list is the API's busiest read (the UI polls it). Built through the ORM and DRF, most of a
    page's processor time is query compilation, row conversion, datetime parsing and formatting
    and JSON encoding, plus a second query for the total; here the worker runs one statement and
    passes the database's text through. The round count is a subquery over the page's rows only
    (``page``): PostgreSQL would compute it for every row that OFFSET skips too. ``test_api_basics`` holds the rows equal to the result's own representation."""
    result, model, rounds = TrainingResult._meta.db_table, MLModel._meta.db_table, RoundRecord._meta.db_table
    deployments = Deployment._meta.db_table
    conditions = ["r.owner_id = %(owner)s" if owner else "", "r.status = %(status)s" if status else "",
                  "r.deployment_id = %(deployment)s" if deployment else ""]
    where = " AND ".join(condition for condition in conditions if condition) or "TRUE"
    return f"""
        WITH owned AS (SELECT r.id FROM "{result}" r WHERE {where}),
             page AS (SELECT id FROM owned ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s)
        SELECT (SELECT count(*) FROM owned), coalesce(json_agg(json_build_object(
            'id', r.id, 'deployment', r.deployment_id, 'kind', d.kind, 'ml_model', r.ml_model_id, 'model_name', m.name,
            'status', r.status, 'federated_id', r.federated_id, 'aggregator_address', r.aggregator_address,
            'contract_address', r.contract_address,
            'explorer_url', CASE WHEN %(explorer)s <> '' AND r.contract_address <> ''
                                 THEN %(explorer)s || '/address/' || r.contract_address END,
            'error', r.error, 'final', r.final, 'model_sha256', r.model_sha256,
            'rounds_done', (SELECT count(*) FROM "{rounds}" x WHERE x.result_id = r.id),
            'created_at', {_iso_utc("r.created_at")}, 'started_at', {_iso_utc("r.started_at")},
            'finished_at', {_iso_utc("r.finished_at")}) ORDER BY r.id DESC), '[]')::text
        FROM page JOIN "{result}" r ON r.id = page.id JOIN "{model}" m ON m.id = r.ml_model_id
                  JOIN "{deployments}" d ON d.id = r.deployment_id"""


def result_page(user, *, status: str | None, deployment: int | None, limit: int, offset: int,
                explorer: str) -> tuple[int, str]:
    """The number of results the user may see (their own; staff: everyone's) and the page
    ``[offset, offset + limit)`` of them, newest first, as JSON text; ``explorer`` is the block
    explorer's base URL ('' for none)."""
    statement = _result_page_sql(owner=not user.is_staff, status=status is not None,
                                 deployment=deployment is not None)
    with connection.cursor() as cursor:
        cursor.execute(statement, {"owner": user.pk, "status": status, "deployment": deployment, "limit": limit,
                                   "offset": offset, "explorer": explorer})
        count, rows = cursor.fetchone()
    return count, rows


def result_of(user, pk: int) -> TrainingResult:
    """The result if the user may see it; 404 otherwise (another user's result does not exist for them)."""
    return get_object_or_404(with_round_counts(results_of(user)), pk=pk)


def rounds_of(result: TrainingResult, *, after: int | None = None) -> QuerySet[RoundRecord]:
    rounds = result.rounds.all()
    return rounds.filter(version__gt=after) if after is not None else rounds


def inferences_of(user) -> QuerySet[Inference]:
    return _owned(Inference.objects.select_related("result__ml_model"), user)


def inference_of(user, pk: int) -> Inference:
    """The inference if the user may see it; 404 otherwise (another user's does not exist for them)."""
    return get_object_or_404(inferences_of(user), pk=pk)
