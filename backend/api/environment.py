"""What the backend needs to launch trainings: the platform's Kafka, chain, keys and launcher.

Read at first use, not at import, so the service starts (and reports them as down or missing)
even when they are not configured or not reachable. Names shared with the jobs
(BOOTSTRAP_SERVERS, ETH_RPC_URL, ...) mean the same thing here as there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from kafkaml.config import LOCAL, ConfigError, Setting, declare
from kafkaml.ledger.gas import DEFAULT_MARGIN
from kafkaml.rewards import parse_token_amount
from kafkaml.topics import DATA_CONTROL_TOPIC, MODEL_CONTROL_TOPIC

PLATFORM = declare(
    "Platform backend: trainings",
    Setting("BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform: global weights, model and data control topics "
            "(empty: deployments are refused with a clear error).", default=""),
    Setting("DATA_CONTROL_TOPIC", "Topic on which datasources are described (data control messages).",
            default=DATA_CONTROL_TOPIC),
    Setting("MODEL_LOGGER_TOPIC", "Platform topic on which models are announced to clients.",
            default=MODEL_CONTROL_TOPIC),
    Setting("ETH_RPC_URL", "JSON-RPC URL of the Ethereum node (empty: blockchain trainings are refused).",
            default=""),
    Setting("ETH_CHAIN_ID", "Chain id; transactions are signed for it (EIP-155).", kind="int", default=None,
            minimum=1),
    Setting("ETH_ADMIN_KEY_FILE", "File holding the platform admin's key (factory admin: deploys the platform "
            "contracts once and creates every training; never given to a job).", kind="path", default=None),
    Setting("PLATFORM_SIGNER_KEY_FILE", "File holding the key classic announcements are signed with (clients "
            "trust its address as PLATFORM_SIGNER_ADDRESS); not the admin key.", kind="path", default=None),
    Setting("ETH_BLOCKSCOUT_URL", "Blockscout base URL for explorer links (empty: no links).", default=""),
    Setting("AGGREGATOR_GAS_MARGIN", "Safety factor on the gas a training's aggregator is funded for (the most its "
            "rounds can spend, from measured figures, at the node's fee cap now); what is left returns to the "
            "admin at the end.", kind="float", default=DEFAULT_MARGIN, minimum=1.0, maximum=100.0),
    Setting("BACKEND_PUBLIC_URL", "URL at which jobs reach this backend to report (their RESULT_URL base).",
            default="http://127.0.0.1:8000"),
    Setting("JOB_LAUNCHER", "Where jobs run: local (subprocesses), docker (containers of one host's Docker "
            "Engine or podman service) or kubernetes (Jobs in this namespace).",
            default="local", choices=("local", "docker", "kubernetes")),
    Setting("JOB_IMAGE", "Image of the training jobs (kubernetes launcher).",
            default="kafka-ml/worker:0.1.0"),
    Setting("JOB_SERVICE_ACCOUNT", "Service account of the training jobs (no API token is mounted).",
            default="kafka-ml-jobs"),
    Setting("BACKEND_UI_DIR", "Directory of the built web UI (frontend/dist) this backend serves at / (local "
            "mode); unset: no UI here (in a cluster the UI's nginx serves it).", kind="path", default=None),
)


QUOTAS = declare(
    "Platform backend: tenant quotas (staff may exceed them)",
    Setting("PLATFORM_MAX_REWARD_BASE", "Most tokens a deployment may set as its reward base (what a round pays at "
            "most).", default="10"),
    Setting("PLATFORM_MAX_REWARD_BUDGET", "Most tokens one training may mint: its reward budget, or its reward base "
            "times its rounds when it sets no budget.", default="1000"),
    Setting("PLATFORM_MAX_SAMPLE_CEILING", "Largest sample ceiling a deployment may give a client.", kind="int",
            default=10_000_000, minimum=1),
    Setting("PLATFORM_MAX_RUNNING_TRAININGS", "Trainings (one per model of a deployment) a user may have created or "
            "running at once; a deployment beyond it is refused with 429.", kind="int", default=4, minimum=1),
    Setting("PLATFORM_MAX_INFERENCE_REPLICAS", "Inference worker replicas a user may have created or running at "
            "once, all their inferences together; an inference beyond it is refused with 429.", kind="int", default=8,
            minimum=1),
)


@dataclass(frozen=True)
class Quotas:
    """What a user who is not staff may make the platform mint and run (token amounts in base units)."""

    max_reward_base: int
    max_reward_budget: int
    max_sample_ceiling: int
    max_running_trainings: int
    max_inference_replicas: int


@functools.cache
def quotas() -> Quotas:
    """The tenant quotas, checked at start (``ApiConfig.ready``): a token amount that does not
    parse stops the backend with the variable's name."""
    values = QUOTAS.load()
    amounts = {}
    for name in ("PLATFORM_MAX_REWARD_BASE", "PLATFORM_MAX_REWARD_BUDGET"):
        try:
            amounts[name] = parse_token_amount(values[name])
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return Quotas(max_reward_base=amounts["PLATFORM_MAX_REWARD_BASE"],
                  max_reward_budget=amounts["PLATFORM_MAX_REWARD_BUDGET"],
                  max_sample_ceiling=values["PLATFORM_MAX_SAMPLE_CEILING"],
                  max_running_trainings=values["PLATFORM_MAX_RUNNING_TRAININGS"],
                  max_inference_replicas=values["PLATFORM_MAX_INFERENCE_REPLICAS"])


@dataclass(frozen=True)
class PlatformSettings:
    bootstrap_servers: str
    data_control_topic: str
    model_control_topic: str
    rpc_url: str
    chain_id: int | None
    admin_key_file: Path | None
    signer_key_file: Path | None
    blockscout_url: str
    aggregator_gas_margin: float
    public_url: str
    launcher: str
    job_image: str
    job_service_account: str
    ui_dir: Path | None
    run_dir: Path

    @property
    def jobs_in_containers(self) -> bool:
        """Jobs run in containers (Kubernetes or Docker): they see their own scratch space, not
        this machine's run directory, and cannot make the builder's sandbox themselves."""
        return self.launcher != "local"


@functools.cache
def platform_settings() -> PlatformSettings:
    values = PLATFORM.load()
    return PlatformSettings(
        bootstrap_servers=values["BOOTSTRAP_SERVERS"], data_control_topic=values["DATA_CONTROL_TOPIC"],
        model_control_topic=values["MODEL_LOGGER_TOPIC"], rpc_url=values["ETH_RPC_URL"],
        chain_id=values["ETH_CHAIN_ID"], admin_key_file=values["ETH_ADMIN_KEY_FILE"],
        signer_key_file=values["PLATFORM_SIGNER_KEY_FILE"],
        blockscout_url=values["ETH_BLOCKSCOUT_URL"].rstrip("/"),
        aggregator_gas_margin=values["AGGREGATOR_GAS_MARGIN"],
        public_url=values["BACKEND_PUBLIC_URL"].rstrip("/"), launcher=values["JOB_LAUNCHER"],
        job_image=values["JOB_IMAGE"], job_service_account=values["JOB_SERVICE_ACCOUNT"],
        ui_dir=values["BACKEND_UI_DIR"], run_dir=LOCAL.load()["KAFKAML_RUN_DIR"],
    )



BUILDS = declare(
    "Platform backend: model builds",
    Setting("MODEL_BUILDS_PER_USER", "Model builds one user may have in flight (queued or running); saving one "
            "more source is refused with 429 until one has finished.", kind="int", default=2, minimum=1,
            maximum=1000),
    Setting("MODEL_BUILDS_MAX", "Model builds running at once on the whole platform, every API process together "
            "(each is a TensorFlow process, or a builder Job in a cluster); further builds wait, queued, in state "
            "building.", kind="int", default=4, minimum=1, maximum=1000),
    Setting("MODEL_BUILD_STALE_S", "Seconds without a heartbeat (renewed every second by the API process running "
            "the build) after which a build is taken as abandoned by a process that died: its builder Job and Secret "
            "are deleted and it is queued again, or failed after its second start.", kind="float", default=15.0,
            minimum=3.0, maximum=3600.0),
)


@dataclass(frozen=True)
class BuildLimits:
    per_user: int
    platform: int
    stale_s: float


@functools.cache
def build_limits() -> BuildLimits:
    values = BUILDS.load()
    return BuildLimits(per_user=values["MODEL_BUILDS_PER_USER"], platform=values["MODEL_BUILDS_MAX"],
                       stale_s=values["MODEL_BUILD_STALE_S"])
