"""Trainer jobs: one per running participation, with this client's own key and data, launched
through the job interface (:mod:`kafkaml.jobs`: a local process or a Kubernetes Job)."""

from __future__ import annotations

import functools

from federated_backend.api.environment import client
from federated_backend.api.models import Participation
from kafkaml.jobs import JobSpec, JobState, Launcher, LocalLauncher, Role, SecretFile
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.schemas import ModelControl

OWNER = "federated-backend"
WALLET_PATH = "/var/run/kafka-ml/wallet/key"


@functools.cache
def launcher() -> Launcher:
    site = client()
    if site.launcher == "kubernetes":
        from kafkaml.jobs.kubernetes_launcher import KubernetesLauncher

        return KubernetesLauncher()
    # Locally the wallet "Secret" is a directory of the run directory (the stack's keys/).
    return LocalLauncher(site.run_dir / f"{site.client_id}-jobs", secrets_dir=site.run_dir)


def job_name(participation: Participation) -> str:
    return f"trainer-{participation.pk}"


def environment(participation: Participation, announcement: ModelControl) -> dict[str, str]:
    site = client()
    env = {
        "COORDINATION": announcement.coordination, "KML_CLOUD_BOOTSTRAP_SERVERS": site.platform_bootstrap,
        "FEDERATED_MODEL_ID": announcement.model_id, "FEDERATED_CLIENT_ID": site.client_id,
        "MODEL_LOGGER_TOPIC": site.model_control_topic, "DATA_BOOTSTRAP_SERVERS": site.data_bootstrap,
        "DATA_CONTROL_TOPIC": participation.datasource.control_topic,
        "DATASOURCE_ID": participation.datasource.datasource_id, "DATASOURCE_SHA256": participation.datasource.sha256,
        "RESULTS_DIR": f"/tmp/kafkaml-results/{job_name(participation)}", "POLL_INTERVAL": "0.5",
    }
    if announcement.coordination == "blockchain":
        assert announcement.blockchain is not None
        env.update({"ETH_RPC_URL": site.rpc_url, "ETH_CHAIN_ID": str(site.chain_id),
                    "ETH_CONTRACT_ADDRESS": announcement.blockchain.contract_address,
                    "ETH_TOKEN_ADDRESS": site.token_address})
    else:
        env["PLATFORM_SIGNER_ADDRESS"] = site.platform_signer
    return env


def launch(participation: Participation, announcement: ModelControl) -> str:
    site = client()
    secrets = {}
    if announcement.coordination == "blockchain":
        secrets["ETH_WALLET_KEY"] = SecretFile(site.wallet_secret, site.wallet_secret_key, WALLET_PATH)
    name = job_name(participation)
    launcher().launch(JobSpec(
        name=name, role=Role.TRAINER, owner=OWNER, training=announcement.model_id[:63], image=site.job_image,
        module="training_worker.trainer", environment=environment(participation, announcement), secret_files=secrets,
        service_account=site.job_service_account,
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
