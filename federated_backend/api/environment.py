"""What a federated backend needs: who this client is, its Kafka and the platform's, the chain,
where its wallet key is (a Secret the trainer jobs mount; this service never reads it), its site
policy and the launcher. Names shared with the jobs mean the same thing here as there."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from kafkaml.config import LOCAL, Setting, declare
from kafkaml.topics import DATA_CONTROL_TOPIC, MODEL_CONTROL_TOPIC

CLIENT = declare(
    "Federated backend",
    Setting("FEDERATED_CLIENT_ID", "This client's id (its trainers report it; classic mode identifies it)."),
    Setting("KML_CLOUD_BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform: announcements, global weights, updates."),
    Setting("DATA_BOOTSTRAP_SERVERS", "Kafka bootstrap of this client's own data."),
    Setting("DATA_CONTROL_TOPIC", "Topic on which this client's datasources are described.",
            default=DATA_CONTROL_TOPIC),
    Setting("MODEL_LOGGER_TOPIC", "Platform topic on which models are announced to clients.",
            default=MODEL_CONTROL_TOPIC),
    Setting("ETH_RPC_URL", "JSON-RPC URL of the Ethereum node (blockchain trainings).", default=""),
    Setting("ETH_CHAIN_ID", "Chain id.", kind="int", default=None, minimum=1),
    Setting("ETH_TOKEN_ADDRESS", "The platform's RewardToken: only trainings its factory created are trusted.",
            default=""),
    Setting("PLATFORM_SIGNER_ADDRESS", "Classic mode: the address whose signature an announcement must carry.",
            default=""),
    Setting("CLIENT_WALLET_SECRET", "Secret holding this client's wallet key, mounted by its trainer jobs.",
            default="kafka-ml-client-wallet"),
    Setting("CLIENT_WALLET_SECRET_KEY", "Key of the wallet Secret that holds the private key.", default="key"),
    Setting("CLIENT_WALLET_ADDRESS", "This client's address (the wallet key's), as the platform registered it; "
            "a blockchain training starts a trainer only when its contract registered this address.", default=""),
    Setting("SITE_POLICY", "auto: a fitting model trains at once; approval: it waits for the owner's approval "
            "through the API.", default="auto", choices=("auto", "approval")),
    Setting("MAX_RUNNING_TRAINERS", "Trainer jobs this client runs at once; more wait.", kind="int", default=2,
            minimum=1),
    Setting("JOB_LAUNCHER", "Where trainer jobs run: local (subprocesses), docker (containers of one host's "
            "Docker Engine or podman service) or kubernetes.", default="local",
            choices=("local", "docker", "kubernetes")),
    Setting("JOB_IMAGE", "Image of the trainer jobs (kubernetes launcher).", default="kafka-ml/worker:0.1.0"),
    Setting("JOB_SERVICE_ACCOUNT", "Service account of the trainer jobs (no API token is mounted).",
            default="kafka-ml-jobs"),
)


@dataclass(frozen=True)
class ClientSettings:
    client_id: str
    platform_bootstrap: str
    data_bootstrap: str
    data_control_topic: str
    model_control_topic: str
    rpc_url: str
    chain_id: int | None
    token_address: str
    platform_signer: str
    wallet_secret: str
    wallet_secret_key: str
    wallet_address: str
    site_policy: str
    max_running: int
    launcher: str
    job_image: str
    job_service_account: str
    run_dir: Path


@functools.cache
def client_settings() -> ClientSettings:
    v = CLIENT.load()
    return ClientSettings(v["FEDERATED_CLIENT_ID"], v["KML_CLOUD_BOOTSTRAP_SERVERS"], v["DATA_BOOTSTRAP_SERVERS"],
                  v["DATA_CONTROL_TOPIC"], v["MODEL_LOGGER_TOPIC"], v["ETH_RPC_URL"], v["ETH_CHAIN_ID"],
                  v["ETH_TOKEN_ADDRESS"], v["PLATFORM_SIGNER_ADDRESS"], v["CLIENT_WALLET_SECRET"],
                  v["CLIENT_WALLET_SECRET_KEY"], v["CLIENT_WALLET_ADDRESS"], v["SITE_POLICY"],
                  v["MAX_RUNNING_TRAINERS"], v["JOB_LAUNCHER"], v["JOB_IMAGE"], v["JOB_SERVICE_ACCOUNT"],
                  LOCAL.load()["KAFKAML_RUN_DIR"])
