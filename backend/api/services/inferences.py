"""Inference deployments: a trained model answering samples on Kafka topics — a finished
training's final model, or the served version of a running incremental training.

Creating one records it, writes its model token into a Secret of its own and launches the
inference worker as a long-running service (``JobSpec.replicas``: a Deployment in a cluster, a
process group per replica locally), told what to do by an :class:`~kafkaml.jobs.InferenceJob`.
The worker fetches the model from the result's download with that token
(``Authorization: Job <token>``, good for nothing else) and refuses a file whose SHA-256 is not
the one it was given. Its workload is labelled ``kafka-ml/job=inference-<id>`` (role
``inference``, training ``<result id>``), which stop and the reconciler select it by.

A rollout (:func:`inference_rollout`) replaces the workload's model with the result's newest one
(an incremental training serves a new version): the workers are stopped and started again with
the new SHA-256 in the same consumer group, so they resume from its committed offsets and, by the
worker's exactly-once rule (it skips inputs its output partitions already answer), no sample is
lost or answered twice.

Stopping deletes the workload and revokes the token; a stopped or failed inference may then be
deleted. A replica that fails for good is found by the reconciler (:func:`inference_sync`),
which marks the inference failed with the replica's reason and the end of its log, and ends the
rest of its workload. How many replicas a user may run at once is a quota.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from backend.api.environment import PlatformSettings, platform_settings, quotas
from backend.api.models import Deployment, Inference, TrainingResult
from backend.api.services import jobs
from backend.api.services.results import model_path
from kafkaml.jobs import InferenceJob, JobState, SecretFile
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.services.api import Conflict, QuotaExceeded, Unavailable
from kafkaml.services.registry.auth import token_digest

log = logging.getLogger(__name__)

ACTIVE = (Inference.Status.CREATED, Inference.Status.RUNNING)
TOKEN_KEY = "inference-token"
#: Seconds a launch may take; an inference still created after that was abandoned mid-launch.
LAUNCH_S = 300
#: How much of a failed replica's output its error keeps.
LOG_LINES, ERROR_CHARS = 10, 2000


@dataclass(frozen=True)
class InferenceSettings:
    """An inference's validated settings (the API's input serializer builds it)."""

    replicas: int
    input_format: str
    input_config: dict[str, Any]
    input_topic: str
    output_topic: str
    error_topic: str
    bootstrap_servers: str  # empty: the platform's
    batch: int | None


def job_name(inference: Inference) -> str:
    """The name of its workload, which selects its every replica (``kafka-ml/job``)."""
    return f"inference-{inference.pk}"


def secret_name(inference: Inference) -> str:
    return job_name(inference)


def group_id(inference: Inference) -> str:
    """The consumer group its replicas share the input topic's partitions in."""
    return f"kafka-ml-inference-{inference.pk}"


def inference_job(inference: Inference, site: PlatformSettings) -> InferenceJob:
    """What the worker is told: topics, group, input, and the model pinned by its SHA-256."""
    result = inference.result
    return InferenceJob(
        result_id=result.pk, bootstrap_servers=inference.bootstrap_servers, input_topic=inference.input_topic,
        output_topic=inference.output_topic, error_topic=inference.error_topic, group_id=group_id(inference),
        input_format=inference.input_format, input_config=inference.input_config, model_sha256=inference.model_sha256,
        model_url=f"{site.public_url}/api/results/{result.pk}/model/", batch=inference.batch,
    )


def inference_create(*, owner, result: TrainingResult, settings: InferenceSettings,
                     sample_shape: tuple[int, ...]) -> Inference:
    """Record the inference and launch its worker; a launch that fails leaves it failed, with why.

    409 when the result has no model to serve (not finished, or an incremental training not running
with a served version, or its file is gone); 400 when
    the input's samples (``sample_shape``) are not what the model takes; 429 past the user's
    replicas quota; 503 when neither the request nor the platform names a Kafka."""
    if not servable(result):
        raise Conflict(f"the training is {result.status} and has no model to serve; only a finished training, or a "
                       "running incremental one that served a version, can be deployed for inference")
    _check_shape(result.ml_model.input_shape, sample_shape)
    site = platform_settings()
    bootstrap = settings.bootstrap_servers or site.bootstrap_servers
    if not bootstrap:
        raise Unavailable("BOOTSTRAP_SERVERS is not set and the request names no bootstrap servers")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        _reserve_replicas(owner, settings.replicas)
        inference = Inference.objects.create(
            owner=owner, result=result, replicas=settings.replicas, input_format=settings.input_format,
            input_config=settings.input_config, input_topic=settings.input_topic, output_topic=settings.output_topic,
            error_topic=settings.error_topic, bootstrap_servers=bootstrap, batch=settings.batch,
            token_sha256=token_digest(token.encode()), model_sha256=result.model_sha256)
    try:
        _launch(inference, token, site)
    except (jobs.JobError, OSError, ValueError) as exc:
        log.error("inference %s could not be launched: %s", inference.pk, exc)
        _end(inference, Inference.Status.FAILED, f"launch failed: {exc}")
    else:
        Inference.objects.filter(pk=inference.pk, status=Inference.Status.CREATED).update(
            status=Inference.Status.RUNNING)
    inference.refresh_from_db()
    return inference


def servable(result: TrainingResult) -> bool:
    """Whether the result has a model file to serve: finished, or a running incremental training
    that served a version."""
    served = result.status == TrainingResult.Status.FINISHED or (
        result.status == TrainingResult.Status.RUNNING and result.deployment.kind == Deployment.Kind.INCREMENTAL)
    return served and bool(result.model_sha256) and model_path(result).exists()


def inference_rollout(*, inference: Inference) -> Inference:
    """Serve the result's newest model: the workload stopped and started again with its SHA-256,
    in the same consumer group (see the module docstring). 409 unless the inference runs and the
    result has a newer model than the one served; the row stays locked meanwhile, so the
    reconciler never sees the stopped workers as failed."""
    site = platform_settings()
    with transaction.atomic():
        locked = Inference.objects.select_for_update().get(pk=inference.pk)
        if locked.status != Inference.Status.RUNNING:
            raise Conflict(f"the inference is {locked.status}; only a running one can be rolled out")
        result = TrainingResult.objects.get(pk=locked.result_id)
        if not servable(result) or result.model_sha256 == locked.model_sha256:
            raise Conflict("the inference already serves the training's newest model")
        jobs.launcher().stop({LABEL_JOB: job_name(locked)})
        Inference.objects.filter(pk=locked.pk).update(model_sha256=result.model_sha256)
        locked.refresh_from_db()
        try:
            _launch_workload(locked, site)
        except (jobs.JobError, OSError, ValueError) as exc:
            log.error("inference %s could not be rolled out: %s", locked.pk, exc)
            _end(locked, Inference.Status.FAILED, f"rollout failed: {exc}")
    locked.refresh_from_db()
    return locked


def _check_shape(model_input: list[int | None] | None, sample_shape: tuple[int, ...]) -> None:
    """The model's input (without the batch dimension; None for a free dimension) must take the
    samples, or every record would fail in the worker."""
    if model_input is None:
        return
    if len(model_input) != len(sample_shape) or any(
            want is not None and want != got for want, got in zip(model_input, sample_shape, strict=False)):
        raise ValidationError({"input_config": [f"the input configuration describes samples of shape "
                                                f"{sample_shape}; the model takes {tuple(model_input)}"]})


def _reserve_replicas(owner, replicas: int) -> None:
    """Within the transaction that records the inference: 429 when its replicas would take the
    user past the replicas they may run at once (counted under a lock on the user's row)."""
    if owner.is_staff:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    limit = quotas().max_inference_replicas
    running = Inference.objects.filter(owner=owner, status__in=ACTIVE).aggregate(n=Sum("replicas"))["n"] or 0
    if running + replicas > limit:
        raise QuotaExceeded(f"your inferences run {running} replica(s) and this one adds {replicas}; at most "
                            f"{limit} at once on this platform: stop one, or ask for fewer replicas")


def _launch(inference: Inference, token: str, site: PlatformSettings) -> None:
    jobs.launcher().put_secret(secret_name(inference), {TOKEN_KEY: token.encode()},
                               {**jobs.labels(inference.result), LABEL_JOB: job_name(inference)})
    _launch_workload(inference, site)


def _launch_workload(inference: Inference, site: PlatformSettings) -> None:
    """Its workers, told by an :class:`InferenceJob`, with the model token of its Secret."""
    secret = secret_name(inference)
    jobs.launcher().launch(inference_job(inference, site).to_spec(
        name=job_name(inference), owner=jobs.OWNER, training=str(inference.result_id), image=site.job_image,
        secret_files={"INFERENCE_TOKEN": SecretFile(secret, TOKEN_KEY, f"{jobs.SECRET_DIR}/inference/{TOKEN_KEY}")},
        service_account=site.job_service_account, replicas=inference.replicas,
        backoff_limit=3,  # a restarted replica resumes from its group's committed offsets
    ))


def inference_stop(*, inference: Inference) -> list[str]:
    """Delete its workload and revoke its token; 409 unless it is created or running. The row
    stays locked while the workload goes, so the reconciler cannot call it failed meanwhile;
    when the launcher cannot stop it, nothing changes and the stop can be asked again."""
    with transaction.atomic():
        status = Inference.objects.select_for_update().values_list("status", flat=True).get(pk=inference.pk)
        if status not in ACTIVE:
            raise Conflict(f"the inference is {status}; only a created or running one can be stopped")
        stopped = jobs.launcher().stop({LABEL_JOB: job_name(inference)})
        _end(inference, Inference.Status.STOPPED, "")
    return stopped


def inference_delete(*, inference: Inference) -> None:
    """Delete a stopped or failed inference (409 while it is created or running: stop it first)."""
    if inference.status in ACTIVE:
        raise Conflict(f"the inference is {inference.status}; stop it before deleting it")
    jobs.launcher().delete_secret(secret_name(inference))  # gone already, unless a deletion failed before
    inference.delete()


def inference_sync(*, inference: Inference) -> None:
    """A running inference whose workload failed for good, ended, or is gone is marked failed,
    with the reason and the end of the failed replica's output, and the rest of it is ended; so is
    one still ``created`` after :data:`LAUNCH_S` (the API process that launched it died mid-launch).

    Called in a transaction: the row stays locked meanwhile, so a stop asked at the same time
    waits and then finds it ended (or this finds it stopped and does nothing)."""
    status, created_at = Inference.objects.select_for_update().values_list("status", "created_at").get(
        pk=inference.pk)
    launcher = jobs.launcher()
    selector = {LABEL_JOB: job_name(inference)}
    if status == Inference.Status.CREATED and timezone.now() - created_at > timedelta(seconds=LAUNCH_S):
        launcher.stop(selector)  # whatever of it the interrupted launch started
        _end(inference, Inference.Status.FAILED, "its launch was interrupted (the API process ended); deploy it again")
        return
    if status != Inference.Status.RUNNING:
        return
    statuses = launcher.status(selector)
    ended = [status for status in statuses if status.state in (JobState.FAILED, JobState.SUCCEEDED)]
    if statuses and not ended:
        return
    if ended:
        replica = ended[0]
        why = replica.reason or f"exit code {replica.exit_code}"
        output = launcher.logs(selector, tail_lines=LOG_LINES).get(replica.name, "")
        error = f"replica {replica.name} ended ({why}); its last output:\n{output}"
    else:
        error = "its workload is gone (deleted outside the platform)"
    launcher.stop(selector)
    _end(inference, Inference.Status.FAILED, error[-ERROR_CHARS:])


def _end(inference: Inference, status: str, error: str) -> None:
    """Mark it ended (once) and revoke its token; its Secret goes too (kept when the launcher
    cannot delete it now: deleting the inference tries again)."""
    updated = Inference.objects.filter(pk=inference.pk, status__in=ACTIVE).update(
        status=status, error=error, stopped_at=timezone.now(), token_sha256="")
    if updated:
        try:
            jobs.launcher().delete_secret(secret_name(inference))
        except jobs.JobError as exc:
            log.warning("the secret of inference %s could not be deleted: %s", inference.pk, exc)
