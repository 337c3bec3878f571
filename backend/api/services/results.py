"""Training results: what the jobs report, the final model file, stop and delete.

Reports are idempotent: a round is stored once per (result, version) and the final record once,
so a job that retries after a timeout, or re-sends its spool after the backend restarted,
changes nothing the second time. The model file is streamed to storage with a size bound and
checked against the SHA-256 the job sent.

However the aggregator's job ends — its final record (sent after the model file), a stop, a
failure found by :func:`result_sync` — its token is revoked and its account's remaining gas
money swept back to the platform (:mod:`backend.api.services.funding`).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from backend.api.environment import platform_settings
from backend.api.models import Inference, RoundRecord, TrainingResult
from backend.api.services import funding, jobs
from kafkaml.services.api import Conflict, PayloadTooLarge
from kafkaml.services.rest import StrictCharField, StrictRegexField

MAX_MODEL_BYTES = 2 * 1024**3
MAX_VERSION = 2**31 - 1  # RoundRecord.version is a 32-bit column
MAX_CONTRIBUTIONS = 10_000  # updates screened in one round; far above any real round
HEX_64 = r"^[0-9a-f]{64}$"
ACTIVE = (TrainingResult.Status.CREATED, TrainingResult.Status.RUNNING)


def _number(value: Any, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({f"data.{name}": ["expected a finite number"]})
    return float(value)


class ContributionInput(serializers.Serializer):
    """One update's fate in a round, as ``training_worker.results.Contribution`` writes it: checked
    here so that every stored round renders with the types the UI's generated client expects."""

    client = StrictCharField(max_length=200)
    samples = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    staleness = serializers.IntegerField(min_value=-1, max_value=MAX_VERSION)
    base_version = serializers.IntegerField(min_value=0, max_value=MAX_VERSION, required=False)
    reward = StrictRegexField(r"^[0-9]{1,78}$", default="0")  # token base units, up to 2^256
    accepted = serializers.BooleanField()
    reason = StrictCharField(max_length=200, allow_blank=True, default="")
    sha256 = StrictRegexField(HEX_64, allow_blank=True, default="")


class TransactionInput(serializers.Serializer):
    hash = StrictRegexField(r"^0x[0-9a-f]{64}$")
    gas = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    block = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False)


class PointerInput(serializers.Serializer):
    topic = StrictCharField(max_length=249)
    partition = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    start_offset = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    end_offset = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class PrivacyInput(serializers.Serializer):
    """Central differential privacy's account after the round (kafkaml.privacy.privacy_spent)."""

    epsilon = serializers.FloatField(min_value=0, allow_null=True)  # null: no noise, no guarantee
    delta = serializers.FloatField(min_value=0, max_value=1)
    noise_multiplier = serializers.FloatField(min_value=0)
    clip = serializers.FloatField(min_value=0)
    rounds = serializers.IntegerField(min_value=0, max_value=MAX_VERSION)
    noise_std = serializers.FloatField(min_value=0)
    seed = StrictRegexField(HEX_64)
    accountant = StrictCharField(max_length=40)


class RoundHashInput(serializers.Serializer):
    sha256 = StrictRegexField(HEX_64, allow_blank=True)


def _checked(serializer: type[serializers.Serializer], data: Any, name: str, *, many: bool = False) -> Any:
    if many and (not isinstance(data, list) or len(data) > MAX_CONTRIBUTIONS):
        raise ValidationError({name: [f"expected a list of at most {MAX_CONTRIBUTIONS} objects"]})
    checked = serializer(data=data, many=many)
    if not checked.is_valid():
        raise ValidationError({name: checked.errors})
    return checked.validated_data if not many else [dict(item) for item in checked.validated_data]


def _optional(serializer: type[serializers.Serializer], data: Any, name: str) -> dict | None:
    return None if data is None else dict(_checked(serializer, data, name))


def result_report(*, result: TrainingResult, kind: str, data: dict[str, Any]) -> bool:
    """Store one report of the result's aggregator; ``True`` when it changed something."""
    if kind == "progress":
        return _round(result, data)
    return _final(result, data)


def _round(result: TrainingResult, data: dict[str, Any]) -> bool:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ValidationError({"data.version": [f"expected a global version number (1 to {MAX_VERSION})"]})
    record = RoundRecord(result=result, version=version, val_loss=_number(data.get("val_loss"), "val_loss"),
                         val_accuracy=_number(data.get("val_accuracy"), "val_accuracy"),
                         elapsed_s=_number(data.get("elapsed_s", 0.0), "elapsed_s", allow_none=False),
                         sha256=_checked(RoundHashInput, {"sha256": data.get("sha256", "")}, "data")["sha256"],
                         pointer=_optional(PointerInput, data.get("pointer"), "data.pointer"),
                         contributions=_checked(ContributionInput, data.get("contributions", []),
                                                "data.contributions", many=True),
                         transaction=_optional(TransactionInput, data.get("transaction"), "data.transaction"),
                         privacy=_optional(PrivacyInput, data.get("privacy"), "data.privacy"))
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        return False  # this version was reported before: a retry
    TrainingResult.objects.filter(pk=result.pk, status=TrainingResult.Status.CREATED).update(
        status=TrainingResult.Status.RUNNING, started_at=timezone.now())
    return True


def _final(result: TrainingResult, data: dict[str, Any]) -> bool:
    if result.final is not None:
        return False
    if not isinstance(data.get("metrics", {}), dict):
        raise ValidationError({"data.metrics": ["expected an object"]})
    status = TrainingResult.Status.FINISHED if data.get("finished", True) else TrainingResult.Status.FAILED
    updated = TrainingResult.objects.filter(pk=result.pk, final__isnull=True).update(
        final=data, finished_at=timezone.now(),
        status=status if result.status in ACTIVE else result.status)
    if updated:  # the aggregator's last word: its last transaction is mined and the model file is in
        _job_ended(result)
    return bool(updated)


def _job_ended(result: TrainingResult) -> None:
    """The aggregator's job is over: revoke its token, sweep its account back to the platform."""
    TrainingResult.objects.filter(pk=result.pk).update(token_sha256="")
    funding.sweep_or_log(result=result, site=platform_settings())


def model_path(result: TrainingResult) -> Path:
    return Path(settings.STORAGE_DIR) / "models" / f"result-{result.pk}.keras"


def result_model_store(*, result: TrainingResult, stream: IO[bytes], length: int, sha256: str) -> None:
    """Stream the final model file to storage; its SHA-256 must be the one the job announced."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValidationError({"X-Content-SHA256": ["expected 64 lower-case hex digits"]})
    if length <= 0:
        raise ValidationError({"body": ["expected the model file (a Content-Length above 0)"]})
    if length > MAX_MODEL_BYTES:
        raise PayloadTooLarge(f"a model file is at most {MAX_MODEL_BYTES} bytes, this one says {length}")
    target = model_path(result)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    digest, received = hashlib.sha256(), 0
    with open(temporary, "wb") as handle:
        while received < length:
            chunk = stream.read(min(1 << 20, length - received))
            if not chunk:
                break
            digest.update(chunk)
            handle.write(chunk)
            received += len(chunk)
    if received != length or digest.hexdigest() != sha256:
        temporary.unlink(missing_ok=True)
        raise ValidationError({"body": [f"received {received} of {length} bytes with SHA-256 "
                                        f"{digest.hexdigest()}, expected {sha256}"]})
    os.replace(temporary, target)
    TrainingResult.objects.filter(pk=result.pk).update(model_file=str(target), model_sha256=sha256)


def result_sync(*, result: TrainingResult) -> TrainingResult:
    """A running result whose aggregator job failed for good is marked failed, with why (a job that
    gives up cannot report it itself)."""
    if result.status in ACTIVE:
        failure = jobs.training_failure(result)
        if failure is not None:
            failed = TrainingResult.objects.filter(pk=result.pk, status__in=ACTIVE).update(
                status=TrainingResult.Status.FAILED, error=failure, finished_at=timezone.now())
            if failed:
                _job_ended(result)
            result.refresh_from_db()
    return result


def result_stop(*, result: TrainingResult) -> list[str]:
    """Stop every job of the result (by label, whatever its kind) and mark it stopped.

    The result's row stays locked while its jobs are killed: the reconciler, which sees a killed
    aggregator as a failed job, waits for the lock and then finds the result no longer active,
    so the status a user asked for is the one kept. When the launcher cannot stop the jobs,
    nothing changes and the stop can be asked again."""
    with transaction.atomic():
        status = TrainingResult.objects.select_for_update().values_list("status", flat=True).get(pk=result.pk)
        if status not in ACTIVE:
            raise Conflict(f"the training is {status}; only a created or running one can be stopped")
        stopped = jobs.stop(result)  # killed before the sweep: it races no transaction of theirs
        TrainingResult.objects.filter(pk=result.pk).update(status=TrainingResult.Status.STOPPED,
                                                           finished_at=timezone.now())
    _job_ended(result)
    return stopped


def result_delete(*, result: TrainingResult) -> None:
    """Delete the result, its secrets, model file and ended inferences; 409 while it or one of its
    inferences runs; 503 while its aggregator account cannot be swept (its Secret holds the only
    copy of the key)."""
    if result.status in ACTIVE:
        raise Conflict("a created or running training cannot be deleted; stop it first")
    if result.inferences.filter(status__in=(Inference.Status.CREATED, Inference.Status.RUNNING)).exists():
        raise Conflict("an inference of this training is running; stop it before deleting the training")
    funding.sweep(result=result, site=platform_settings())
    launcher = jobs.launcher()
    for audit in result.audits.all():
        launcher.delete_secret(jobs.audit_secret_name(audit))
    launcher.delete_secret(jobs.secret_name(result))
    model_path(result).unlink(missing_ok=True)
    result.delete()
