"""The platform backend's reconciler pass (:mod:`kafkaml.django_reconciler`): a training whose
aggregator job failed for good, and an audit whose job ended without a verdict, are marked so by
the service itself, not when someone next reads them (their sweeps and token revocations with them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from backend.api.models import Audit, TrainingResult
from backend.api.services.audits import audits_sync
from backend.api.services.results import ACTIVE, result_sync
from kafkaml.django_reconciler import exclusive

log = logging.getLogger(__name__)


def reconcile() -> None:
    """One pass over the active trainings and the running audits; one that cannot be read now (its
    chain or launcher away) is logged and left for the next pass, never holding up the others."""
    for result in TrainingResult.objects.filter(status__in=ACTIVE):
        _each(result, "training", result_sync)
    for result in TrainingResult.objects.filter(audits__status=Audit.Status.RUNNING).distinct():
        _each(result, "audits of training", audits_sync)


def _each(result: TrainingResult, what: str, sync: Callable[..., object]) -> None:
    try:
        with transaction.atomic():
            exclusive(f"result.{result.pk}")
            sync(result=result)
    except Exception:
        log.exception("%s %s could not be brought up to date; next pass", what, result.pk)
