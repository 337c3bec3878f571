"""The platform backend's reconciler pass (:mod:`kafkaml.services.reconciler`): a training whose
aggregator job failed for good, an audit whose job ended without a verdict, and an inference whose
worker failed for good (or whose launch was abandoned) are marked so by the service itself, not when someone next reads them
(their sweeps and token revocations with them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from backend.api.models import Audit, Inference, TrainingResult
from backend.api.services.audits import audits_sync
from backend.api.services.inferences import inference_sync
from backend.api.services.results import ACTIVE, result_sync
from kafkaml.services.reconciler import exclusive

log = logging.getLogger(__name__)


def reconcile() -> None:
    """One pass over the active trainings, the running audits and the running inferences; one that
    cannot be read now (its chain or launcher away) is logged and left for the next pass, never
    holding up the others."""
    for result in TrainingResult.objects.filter(status__in=ACTIVE):
        _each(f"result.{result.pk}", "training", result_sync, result=result)
    for result in TrainingResult.objects.filter(audits__status=Audit.Status.RUNNING).distinct():
        _each(f"result.{result.pk}", "audits of training", audits_sync, result=result)
    for inference in Inference.objects.filter(status__in=(Inference.Status.CREATED, Inference.Status.RUNNING)):
        _each(f"inference.{inference.pk}", "inference", inference_sync, inference=inference)


def _each(lock: str, what: str, sync: Callable[..., object], **arguments: object) -> None:
    try:
        with transaction.atomic():
            exclusive(lock)
            sync(**arguments)
    except Exception:
        log.exception("%s (%s) could not be brought up to date; next pass", what, lock)
