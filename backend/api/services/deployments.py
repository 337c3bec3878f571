"""Deployments: one training per model of a configuration, launched as jobs — federated (an
aggregator), or single or incremental on one of the platform's datasources (a single training job,
docs/single-training.md; no chain, no clients).

For each model: a training result with a one-time job token (only its SHA-256 is stored), the
model's description and the token in a secret the job mounts, and in blockchain mode a fresh
aggregator account for this training alone — its key goes into the same secret (before any
ether is sent to it), never into the database — funded by the admin for the gas its training
can spend (:mod:`backend.api.services.funding`, which also sweeps the rest back at the end), and
the training created on chain for it through the platform's factory with exactly the job's
settings. The aggregator account is stored before the training is created:
``PlatformLedger.create_training`` finds the training it created for that account, so a crash in between
never orphans one. Then the aggregator job starts, labelled with the result. What a user may
deploy is bounded by the platform's quotas (:mod:`backend.api.services.quotas`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.api.environment import PlatformSettings, platform_settings
from backend.api.models import Configuration, Deployment, TrainingResult
from backend.api.services import funding, jobs, quotas
from backend.api.services.chain import admin_key, platform_contracts
from kafkaml.config import ConfigError, read_secret
from kafkaml.jobs import AggregatorJob, ChainAccess, SingleTrainingJob, onchain
from kafkaml.ledger import LedgerError
from kafkaml.services.api import Unavailable
from kafkaml.services.registry.auth import token_digest
from kafkaml.services.registry.models import Datasource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSettings:
    """A deployment's validated settings (the API's input serializer builds it)."""

    coordination: str
    rounds: int
    epochs: int
    batch: int
    fit_kwargs: dict[str, Any]
    val_kwargs: dict[str, Any]
    strategy: str
    strategy_params: dict[str, Any]
    min_data: int
    data_restriction: dict[str, Any]
    reward_policy: str
    reward_base: str
    reward_budget: str
    reject_ratio: float
    sample_weighting: str
    exclude_after: int = 0  # absent from deployments made before it existed
    kind: str = Deployment.Kind.FEDERATED
    #: Incremental trainings only (docs/single-training.md).
    stream_timeout_s: float = 0.0
    window: int = 1000
    monitor_metric: str = "val_loss"
    monitor_mode: str = "min"
    improvement: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def aggregator_job(result: TrainingResult, settings: TrainingSettings, datasource: Datasource,
                   clients: dict[str, int], site: PlatformSettings) -> AggregatorJob:
    """The aggregator job's plain settings (secrets come as files; the chain once the training exists)."""
    return AggregatorJob(
        coordination=settings.coordination, bootstrap_servers=site.bootstrap_servers,
        federated_id=result.federated_id, deployment_id=result.deployment_id, rounds=settings.rounds,
        epochs=settings.epochs, batch=settings.batch, fit_kwargs=settings.fit_kwargs, val_kwargs=settings.val_kwargs,
        strategy=settings.strategy, strategy_params=settings.strategy_params, min_data=settings.min_data,
        data_restriction=settings.data_restriction, reward_policy=settings.reward_policy,
        reward_base=settings.reward_base, reward_budget=settings.reward_budget, reject_ratio=settings.reject_ratio,
        exclude_after=settings.exclude_after,
        sample_weighting=settings.sample_weighting, client_ceilings=clients,
        datasource_id=datasource.datasource_id, datasource_sha256=datasource.sha256,
        datasource_partition=datasource.control_partition, datasource_offset=datasource.control_offset,
        data_control_topic=datasource.control_topic, data_bootstrap_servers=site.bootstrap_servers,
        model_logger_topic=site.model_control_topic, result_url=f"{site.public_url}/api/results/{result.pk}/",
        result_id=result.pk, results_dir=jobs.results_dir(result), poll_interval_s=0.5,
    )


def single_job(result: TrainingResult, settings: TrainingSettings, datasource: Datasource,
               site: PlatformSettings) -> SingleTrainingJob:
    """The single training job's settings (the model and the token come as secret files)."""
    incremental = settings.kind == Deployment.Kind.INCREMENTAL
    return SingleTrainingJob(
        data_bootstrap_servers=site.bootstrap_servers, datasource_id=datasource.datasource_id,
        data_control_topic=datasource.control_topic, datasource_sha256=datasource.sha256,
        datasource_partition=datasource.control_partition, datasource_offset=datasource.control_offset,
        epochs=settings.epochs, batch=settings.batch, fit_kwargs=settings.fit_kwargs, val_kwargs=settings.val_kwargs,
        results_dir=jobs.results_dir(result), result_url=f"{site.public_url}/api/results/{result.pk}/",
        result_id=result.pk, incremental=incremental,
        **({"stream_timeout_s": settings.stream_timeout_s, "window": settings.window,
            "monitor_metric": settings.monitor_metric, "monitor_mode": settings.monitor_mode,
            "improvement": settings.improvement} if incremental else {}),
    )


def deployment_create(*, owner, configuration: Configuration, validation_datasource: Datasource,
                      settings: TrainingSettings, clients: dict[str, int]) -> Deployment:
    """Record the deployment and its results, then launch each training; a launch that fails
    marks its result failed with the reason (the others still run)."""
    site = platform_settings()
    if not site.bootstrap_servers:
        raise Unavailable("BOOTSTRAP_SERVERS is not set: the platform has no Kafka to train through")
    federated = settings.kind == Deployment.Kind.FEDERATED
    if federated and settings.coordination == "blockchain":
        platform_contracts()  # 503 now, before anything is recorded, when the chain is unusable
    models = list(configuration.ml_models.order_by("pk"))
    with transaction.atomic():
        quotas.reserve_trainings(user=owner, count=len(models))
        deployment = Deployment.objects.create(
            owner=owner, configuration=configuration, validation_datasource=validation_datasource,
            coordination=settings.coordination if federated else "", kind=settings.kind, settings=settings.to_json(),
            clients=clients)
        results = [TrainingResult.objects.create(deployment=deployment, ml_model=model,
                                                 federated_id=f"kml-{secrets.token_hex(8)}", token_sha256="")
                   for model in models]
    for result in results:
        try:
            if federated:
                _launch(result, settings, validation_datasource, clients, site)
            else:
                _launch_single(result, settings, validation_datasource, site)
        except (Unavailable, LedgerError, jobs.JobError, OSError, ValueError) as exc:
            log.error("training result %s could not be launched: %s", result.pk, exc)
            TrainingResult.objects.filter(pk=result.pk).update(status=TrainingResult.Status.FAILED,
                                                               error=f"launch failed: {exc}",
                                                               finished_at=timezone.now())
            funding.sweep_or_log(result=result, site=site)  # a funded account whose training never ran
    return deployment


def _launch(result: TrainingResult, settings: TrainingSettings, datasource: Datasource, clients: dict[str, int],
            site: PlatformSettings) -> None:
    from eth_account import Account

    token = secrets.token_urlsafe(32)
    description = result.ml_model.description_json.encode()
    job = aggregator_job(result, settings, datasource, clients, site)
    files = {jobs.ARCHITECTURE_KEY: description, jobs.TOKEN_KEY: token.encode()}
    launcher = jobs.launcher()
    if settings.coordination == "blockchain":
        account = Account.create()  # this training's own aggregator account
        files[jobs.WALLET_KEY] = account.key.hex().encode()
        launcher.put_secret(jobs.secret_name(result), files, jobs.labels(result))  # kept before it is funded
        _create_training(result, settings, job, description, site, account.address, len(clients))
        job = replace(job, chain=ChainAccess(site.rpc_url, site.chain_id, result.contract_address))
    else:  # no chain anchors a classic announcement: the job signs it with the platform's signer key
        files[jobs.WALLET_KEY] = signer_key(site).encode()
        launcher.put_secret(jobs.secret_name(result), files, jobs.labels(result))
    TrainingResult.objects.filter(pk=result.pk).update(token_sha256=token_digest(token.encode()))
    jobs.launch_training(launcher, result, job)
    _running(result)


def _launch_single(result: TrainingResult, settings: TrainingSettings, datasource: Datasource,
                   site: PlatformSettings) -> None:
    token = secrets.token_urlsafe(32)
    launcher = jobs.launcher()
    launcher.put_secret(jobs.secret_name(result), {jobs.ARCHITECTURE_KEY: result.ml_model.description_json.encode(),
                                                   jobs.TOKEN_KEY: token.encode()}, jobs.labels(result))
    TrainingResult.objects.filter(pk=result.pk).update(token_sha256=token_digest(token.encode()))
    jobs.launch_training(launcher, result, single_job(result, settings, datasource, site))
    _running(result)


def _running(result: TrainingResult) -> None:
    TrainingResult.objects.filter(pk=result.pk, status=TrainingResult.Status.CREATED).update(
        status=TrainingResult.Status.RUNNING, started_at=timezone.now())


def signer_key(site: PlatformSettings) -> str:
    """The key classic announcements are signed with (clients trust its address:
    PLATFORM_SIGNER_ADDRESS); 503 when the platform has none."""
    if site.signer_key_file is None:
        raise Unavailable("PLATFORM_SIGNER_KEY_FILE is not set: this platform cannot run classic trainings")
    try:
        return read_secret("PLATFORM_SIGNER_KEY", {"PLATFORM_SIGNER_KEY_FILE": str(site.signer_key_file)})
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None


def _create_training(result: TrainingResult, settings: TrainingSettings, job: AggregatorJob, description: bytes,
                     site: PlatformSettings, aggregator: str, clients: int) -> None:
    """Fund the training's aggregator account and create the training on chain for it."""
    from kafkaml.ledger.gas import fund_aggregator

    contracts = platform_contracts()
    result.aggregator_address = aggregator
    result.save(update_fields=["aggregator_address"])
    key = admin_key(site)
    fund_aggregator(site.rpc_url, key, aggregator, rounds=settings.rounds, clients=clients,
                    margin=site.aggregator_gas_margin)
    result.contract_address = onchain.create_training(site.rpc_url, key, job, description,
                                                      token_address=contracts.token, aggregator=aggregator)
    result.save(update_fields=["contract_address"])
