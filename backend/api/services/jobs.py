"""The backend's jobs: which launcher, how a training's jobs are named, labelled and stopped."""

from __future__ import annotations

import functools

from backend.api.environment import platform_settings
from backend.api.models import Audit, TrainingResult
from kafkaml.jobs import (
    AggregatorJob,
    JobError,
    JobState,
    Launcher,
    Role,
    SecretFile,
    SingleTrainingJob,
    launcher_from_settings,
)
from kafkaml.jobs.spec import LABEL_TRAINING

__all__ = ["JobError", "audit_job_name", "audit_secret_name", "launch_training", "launcher", "labels", "secret_name",
           "selector", "stop"]

OWNER = "platform-backend"
SECRET_DIR = "/var/run/kafka-ml"  # one directory per secret file, as a cluster mounts them
#: The files of an aggregator's Secret: the model's Keras JSON, the result's job token, and the
#: training's own key (blockchain) or the platform's signer key (classic).
ARCHITECTURE_KEY, TOKEN_KEY, WALLET_KEY = "architecture.json", "result-token", "aggregator.key"


@functools.cache
def launcher() -> Launcher:
    site = platform_settings()
    return launcher_from_settings(site.launcher, site.run_dir / "platform-jobs", services=True)  # inference


def results_dir(result: TrainingResult) -> str:
    """Where the aggregator keeps its announcement and spool: the run directory locally (several
    trainings share the machine), the container's scratch space otherwise."""
    site = platform_settings()
    if site.jobs_in_containers:
        return "/tmp/kafkaml-results"
    return str(site.run_dir / "platform-results" / str(result.pk))


def secret_name(result: TrainingResult) -> str:
    return f"training-{result.pk}"


def audit_job_name(audit: Audit) -> str:
    return f"audit-{audit.result_id}-{audit.pk}"


def audit_secret_name(audit: Audit) -> str:
    """The audit job's own Secret (its token), apart from the aggregator's."""
    return audit_job_name(audit)


def selector(result: TrainingResult) -> dict[str, str]:
    """Every job the platform ran for this result (aggregator, audits), by label."""
    return {LABEL_TRAINING: str(result.pk)}


def labels(result: TrainingResult) -> dict[str, str]:
    return {LABEL_TRAINING: str(result.pk)}


def launch_training(launcher: Launcher, result: TrainingResult, job: AggregatorJob | SingleTrainingJob) -> None:
    """The result's training job: its aggregator (which also holds a key: the training's account or
    the signer's), or its single training."""
    site = platform_settings()
    secret = secret_name(result)
    files = {"MODEL_ARCHITECTURE": SecretFile(secret, ARCHITECTURE_KEY, f"{SECRET_DIR}/model/{ARCHITECTURE_KEY}"),
             "RESULT_TOKEN": SecretFile(secret, TOKEN_KEY, f"{SECRET_DIR}/token/{TOKEN_KEY}")}
    if isinstance(job, AggregatorJob):
        files["ETH_WALLET_KEY"] = SecretFile(secret, WALLET_KEY, f"{SECRET_DIR}/wallet/{WALLET_KEY}")
    launcher.launch(job.to_spec(
        name=f"{job.ROLE.value}-{result.pk}", owner=OWNER, training=str(result.pk), image=site.job_image,
        secret_files=files, service_account=site.job_service_account,
        backoff_limit=2 if isinstance(job, AggregatorJob) else 0,  # an aggregator resumes from its record
    ))


def stop(result: TrainingResult) -> list[str]:
    return launcher().stop(selector(result))


def training_failure(result: TrainingResult) -> str | None:
    """Why the result's training job (its aggregator or its single training) failed for good
    (None while it runs or when it succeeded)."""
    for role in (Role.AGGREGATOR, Role.SINGLE):
        for status in launcher().status({**selector(result), "app.kubernetes.io/component": role.value}):
            if status.state == JobState.FAILED:
                return f"the {role.value} job failed ({status.reason or f'exit code {status.exit_code}'}); see its logs"
    return None
