"""Trainer jobs: one per running participation, with this client's own key and data, launched
through the job interface (:mod:`kafkaml.jobs`: a local process or a Kubernetes Job)."""

from __future__ import annotations

import functools

from federated_backend.api.environment import client_settings
from federated_backend.api.models import Participation
from kafkaml.jobs import (
    ChainAccess,
    JobState,
    Launcher,
    SecretFile,
    TrainerJob,
    launcher_from_settings,
)
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.messages.kinds import ModelControl

OWNER = "federated-backend"
WALLET_PATH = "/var/run/kafka-ml/wallet/key"


@functools.cache
def launcher() -> Launcher:
    site = client_settings()
    # Locally the wallet "Secret" is a directory of the run directory (the stack's keys/).
    return launcher_from_settings(site.launcher, site.run_dir / f"{site.client_id}-jobs", secrets_dir=site.run_dir)


def job_name(participation: Participation) -> str:
    """Unique on one engine shared by several clients (single-host compose: every client's trainers
    are containers of the same engine, named and selected by this name), so it carries the
    client's id besides the participation's number, cut to a DNS label's 63 characters."""
    return f"trainer-{participation.pk}-{client_settings().client_id}"[:63].rstrip("-")


def trainer_job(participation: Participation, announcement: ModelControl) -> TrainerJob:
    """What this participation's trainer is told; its key comes as a file (blockchain mode).

    The trainer is pinned to the announcement record this participation was matched with and
    approved for (its place on the model control topic and its SHA-256): a later announcement of
    the same model id, which anyone who can write to the topic may publish, is not what the owner
    approved, and the trainer need not rescan the topic to find it."""
    site = client_settings()
    model = participation.model
    chain = None
    if announcement.coordination == "blockchain":
        assert announcement.blockchain is not None
        chain = ChainAccess(site.rpc_url, site.chain_id, announcement.blockchain.contract_address, site.token_address)
    return TrainerJob(
        coordination=announcement.coordination, platform_bootstrap_servers=site.platform_bootstrap,
        federated_id=announcement.model_id, client_id=site.client_id, model_logger_topic=model.control_topic,
        announcement_partition=model.control_partition, announcement_offset=model.control_offset,
        announcement_sha256=model.sha256,
        data_bootstrap_servers=site.data_bootstrap, data_control_topic=participation.datasource.control_topic,
        datasource_id=participation.datasource.datasource_id, datasource_sha256=participation.datasource.sha256,
        datasource_partition=participation.datasource.control_partition,
        datasource_offset=participation.datasource.control_offset,
        results_dir=f"/tmp/kafkaml-results/{job_name(participation)}", poll_interval_s=0.5, chain=chain,
        platform_signer=site.platform_signer if chain is None else None,
    )


def launch(participation: Participation, announcement: ModelControl) -> str:
    site = client_settings()
    secrets = {}
    if announcement.coordination == "blockchain":
        secrets["ETH_WALLET_KEY"] = SecretFile(site.wallet_secret, site.wallet_secret_key, WALLET_PATH)
    name = job_name(participation)
    launcher().launch(trainer_job(participation, announcement).to_spec(
        name=name, owner=OWNER, training=announcement.model_id[:63], image=site.job_image,
        secret_files=secrets, service_account=site.job_service_account,
    ))
    return name


def ended(participation: Participation) -> tuple[str, str] | None:
    """(state, reason) once the participation's job ended; None while it runs."""
    statuses = launcher().status({LABEL_JOB: participation.job})
    if not statuses:
        return Participation.State.FAILED, "its trainer job is gone"
    status = statuses[0]
    if status.state == JobState.SUCCEEDED:
        return Participation.State.FINISHED, ""
    if status.state == JobState.FAILED:
        return Participation.State.FAILED, f"the trainer job failed ({status.reason or f'exit {status.exit_code}'})"
    return None


def stop(participation: Participation) -> list[str]:
    return launcher().stop({LABEL_JOB: participation.job}) if participation.job else []


def logs(participation: Participation, tail_lines: int = 200) -> str:
    if not participation.job:
        return ""
    return launcher().logs({LABEL_JOB: participation.job}, tail_lines).get(participation.job, "")
