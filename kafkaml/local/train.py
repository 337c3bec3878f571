"""A whole federated training on the local stack, with the jobs as subprocesses.

What Kubernetes and the backends do in a cluster happens here in one process: stream each
client's dataset into its own broker and the platform's validation data into the platform
broker (data owners' sinks), build the model source in the isolated builder (the stack's run
directory, which holds every key file, hidden from it), create the training on chain with the
platform's admin key for a fresh aggregator account of its own (the platform backend's part),
start the aggregator job with only the builder's JSON, wait for its model announcement (the
model control logger's part), then start one trainer job per client with its own key (the
federated backend's part). The jobs are the same modules, configured by the same environment
variables, as the Kubernetes Jobs: an :class:`~kafkaml.jobs.contract.AggregatorJob` and a
:class:`~kafkaml.jobs.contract.TrainerJob` each, as the backends build them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kafkaml.builder import BuilderUnavailableError, build_isolated
from kafkaml.control_topics import ControlRecord, RecordPin, read_control
from kafkaml.faults import FAULT_POINT
from kafkaml.heterogeneity import Heterogeneity
from kafkaml.jobs import onchain
from kafkaml.jobs.contract import AggregatorJob, ChainAccess, TrainerJob
from kafkaml.jobs.local import LocalJob, LocalLauncher
from kafkaml.local import stack as local
from kafkaml.local.accounts import LocalAccount, new_account
from kafkaml.messages.kinds import ModelControl
from kafkaml.model_source import ModelSourceError
from kafkaml.sinks import DATA_CONTROL_TOPIC, publish_training_data
from kafkaml.topics import CONTROL_TOPIC_CONFIG, MODEL_CONTROL_TOPIC, ensure_topic
from kafkaml.workloads import Workload

#: Who launched the jobs (their ``managed-by`` label), and the image a cluster would run them from.
OWNER = "kafkaml-train"
IMAGE = "kafka-ml/worker:0.1.0"

log = logging.getLogger(__name__)


class TrainingFailed(RuntimeError):
    """A job of the run failed; the message carries the end of its log."""


@dataclass
class RunOptions:
    clients: int = 2
    rounds: int = 5
    mode: str = "blockchain"
    strategy: str = "fedasync"
    strategy_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 1
    batch: int = 32
    seed: int = 1
    reward_policy: str = "improvement"
    #: Updates whose own validation loss exceeds this ratio of the global model's are rejected.
    reject_ratio: float = 1.5
    #: Exclude a client after this many rejected updates (0: never).
    exclude_after: int = 0
    stop_timeout_s: float = 300.0
    #: Registered beside the clients that get a trainer (e.g. a test's attacker): address (or
    #: classic id) → sample ceiling.
    extra_clients: dict[str, int] = field(default_factory=dict)
    sample_weighting: str = "capped"
    #: Benchmarks and tests only: client index (from 1) → a simulated slower or intermittent client.
    heterogeneity: dict[int, Heterogeneity] = field(default_factory=dict)
    #: Tests only: every job of the run ends at this point of :mod:`kafkaml.faults` ('' never).
    fault_point: str = ""


@dataclass
class Run:
    """A training in progress: its id, directory and jobs."""

    run_id: str
    directory: Path
    stack: local.Stack
    options: RunOptions
    #: The run's jobs are local jobs under ``<directory>/jobs/<name>/`` (their logs: ``output.log``).
    launcher: LocalLauncher = field(init=False)
    aggregator: LocalJob | None = None
    trainers: list[LocalJob] = field(default_factory=list)
    announcement: ModelControl | None = None
    #: The announcement's record, which the trainers are pinned to (they verify it, not rescan).
    announcement_pin: RecordPin | None = None
    first_block: int = 0
    contract_address: str | None = None
    token_address: str | None = None
    #: The training's own account: it aggregates the training on chain (blockchain mode) or signs
    #: the model announcement (classic mode); never the platform's admin key.
    aggregator_account: LocalAccount | None = None
    #: Epoch seconds when the data were in Kafka and the model built, before the training was
    #: created and its jobs started: benchmarks time the training itself from here.
    training_started_at: float = 0.0
    #: Wei the aggregator account was funded with for gas, and wei returned from it to the
    #: platform when the run stopped (None: not yet, or classic mode).
    funded_wei: int = 0
    returned_wei: int | None = None

    def __post_init__(self) -> None:
        self.launcher = LocalLauncher(self.directory)

    def job(self, name: str, job: AggregatorJob | TrainerJob) -> LocalJob:
        """One of the run's jobs (not started), as a backend describes it to its launcher."""
        spec = job.to_spec(name=name, owner=OWNER, training=self.run_id, image=IMAGE)
        if self.options.fault_point:
            spec = replace(spec, environment={**spec.environment, FAULT_POINT.name: self.options.fault_point})
        return LocalJob(self.launcher, spec)

    @property
    def progress_file(self) -> Path:
        return self.directory / "aggregator" / "progress.jsonl"

    @property
    def final_file(self) -> Path:
        return self.directory / "aggregator" / "final.json"

    def rounds_done(self) -> list[dict[str, Any]]:
        """The rounds recorded so far. The aggregator may be writing a line as this reads: only the
        lines it has ended count."""
        if not self.progress_file.exists():
            return []
        written, _, _being_written = self.progress_file.read_text().rpartition("\n")
        return [json.loads(line)["data"] for line in written.splitlines() if line.strip()]

    def final(self) -> dict[str, Any] | None:
        return json.loads(self.final_file.read_text())["data"] if self.final_file.exists() else None

    def jobs(self) -> list[LocalJob]:
        return [job for job in [self.aggregator, *self.trainers] if job is not None]

    def stop(self) -> None:
        """Stop the jobs, then return what the aggregator account has left to the platform, as
        the backend does when a training ends (only the platform is sure to be there then)."""
        for job in self.jobs():
            job.stop()
        if self.funded_wei and self.returned_wei is None:
            from kafkaml.ledger import LedgerError
            from kafkaml.ledger.factory import PlatformLedger

            account = self.aggregator_account
            assert account is not None
            try:
                self.returned_wei = PlatformLedger.sweep(self.stack.chain.address, account.private_key(),
                                                 self.stack.account("platform").address)
            except LedgerError as exc:  # the key stays in the run directory: nothing is lost
                log.warning("the aggregator account %s was not emptied (%s); its key is %s", account.address, exc,
                            account.key_file)


def publish_workload(current: local.Stack, workload: Workload, run_id: str) -> None:
    """Each client's data into its own broker; the platform's validation data into the platform's."""
    publish_training_data(workload, run_id, [current.bootstrap(f"client-{index}") for index in
                                             range(1, len(workload.clients) + 1)], current.bootstrap("platform"))


def client_ceilings(run: Run, shares: list[int]) -> dict[str, int]:
    """The clients the platform matched, each with the size of its training data (the sample
    ceiling): addresses in blockchain mode, client ids in classic mode."""
    def identity(index: int) -> str:
        return run.stack.account(f"client-{index}").address if run.options.mode == "blockchain" else f"client-{index}"

    return {**{identity(i): count for i, count in enumerate(shares, start=1)}, **run.options.extra_clients}


def build_model_file(run: Run, workload: Workload) -> Path:
    """The builder's description of the workload's model source, written for the aggregator job."""
    try:
        built = build_isolated(workload.model_source, input_shape=workload.validation.x.shape[1:],
                               output_shape=(workload.classes,), hidden_paths=[run.stack.run_dir])
    except (ModelSourceError, BuilderUnavailableError) as exc:
        raise TrainingFailed(f"the model source of workload {workload.name!r} cannot be built: {exc}") from None
    path = run.directory / "model.json"
    path.write_text(built.to_json())
    return path


def aggregator_job(run: Run, workload: Workload, model_file: Path) -> AggregatorJob:
    """The aggregator job of the run (its key and, in blockchain mode, its training come later)."""
    options, current = run.options, run.stack
    shares = [len(share) for share in workload.clients[:options.clients]]  # all of it is training data
    return AggregatorJob(
        coordination=options.mode, bootstrap_servers=current.bootstrap("platform"), federated_id=run.run_id,
        model_architecture_file=str(model_file), rounds=options.rounds, strategy=options.strategy,
        strategy_params=options.strategy_params, epochs=options.epochs, batch=options.batch, seed=options.seed,
        reward_policy=options.reward_policy, reject_ratio=options.reject_ratio, exclude_after=options.exclude_after,
        results_dir=str(run.directory / "aggregator"), datasource_id=f"{run.run_id}-validation",
        data_control_topic=DATA_CONTROL_TOPIC, model_logger_topic=MODEL_CONTROL_TOPIC,
        stop_timeout_s=options.stop_timeout_s, poll_interval_s=0.5, client_ceilings=client_ceilings(run, shares),
        sample_weighting=options.sample_weighting,
    )


def deploy_token_once(current: local.Stack) -> str:
    """The platform's reward token (with its training factory): deployed on first use, then reused."""
    from kafkaml.ledger import LedgerError
    from kafkaml.ledger.factory import PlatformLedger

    record = current.run_dir / "reward_token.json"
    if record.exists():
        address = json.loads(record.read_text())["address"]
        try:
            PlatformLedger.factory_of(current.chain.address, address)
            return address
        except LedgerError:
            pass  # the chain was reset, or the token predates the factory: deploy anew
    address = PlatformLedger.deploy_token(current.chain.address, current.account("platform").private_key())
    record.write_text(json.dumps({"address": address}))
    return address


def create_training(run: Run, job: AggregatorJob, token_address: str) -> AggregatorJob:
    """The platform backend's part in blockchain mode: the training's own aggregator account (its
    key never leaves the run directory), funded for the most gas its training can spend
    (:func:`kafkaml.ledger.gas.fund_aggregator`, as the backend funds it; the rest
    returns at :meth:`Run.stop`), and the training created for it through the factory with the
    platform's admin key, for exactly this job's settings. Returns the job with its training and key."""
    from kafkaml.ledger.gas import fund_aggregator

    current = run.stack
    admin_key = current.account("platform").private_key()
    aggregator = run.aggregator_account
    assert aggregator is not None and job.model_architecture_file is not None
    run.funded_wei = fund_aggregator(current.chain.address, admin_key, aggregator.address, rounds=job.rounds,
                                     clients=len(job.client_ceilings))
    run.contract_address = onchain.create_training(
        current.chain.address, admin_key, job, Path(job.model_architecture_file).read_bytes(),
        token_address=token_address, aggregator=aggregator.address)
    run.token_address = token_address
    (run.directory / "contract.json").write_text(json.dumps({"address": run.contract_address,
                                                             "token": token_address}))
    return replace(job, chain=ChainAccess(current.chain.address, current.chain_id, run.contract_address),
                   wallet_key_file=str(aggregator.key_file))


def trainer_job(run: Run, index: int) -> TrainerJob:
    """The trainer job of the run's client ``index`` (from 1), with the client's own key."""
    options, current = run.options, run.stack
    chain = signer = key_file = None
    if options.mode == "blockchain":
        assert run.contract_address and run.token_address
        chain = ChainAccess(current.chain.address, current.chain_id, run.contract_address, run.token_address)
        key_file = str(current.account(f"client-{index}").key_file)
    else:
        assert run.aggregator_account is not None
        signer = run.aggregator_account.address
    return TrainerJob(
        coordination=options.mode, platform_bootstrap_servers=current.bootstrap("platform"),
        federated_id=run.run_id, client_id=f"client-{index}", model_logger_topic=MODEL_CONTROL_TOPIC,
        data_bootstrap_servers=current.bootstrap(f"client-{index}"), datasource_id=f"{run.run_id}-client-{index}",
        data_control_topic=DATA_CONTROL_TOPIC, results_dir=str(run.directory / f"client-{index}"),
        seed=options.seed + index, stop_timeout_s=options.stop_timeout_s, poll_interval_s=0.5,
        heterogeneity=options.heterogeneity.get(index, Heterogeneity()), wallet_key_file=key_file, chain=chain,
        platform_signer=signer, **_pinned(run.announcement_pin),
    )


def _pinned(pin: RecordPin | None) -> dict[str, Any]:
    """The trainer job's fields that pin it to the announcement ``pin`` names (none without one)."""
    if pin is None:
        return {}
    return {"announcement_partition": pin.partition, "announcement_offset": pin.offset,
            "announcement_sha256": pin.sha256}


def wait_for_announcement(run: Run, timeout_s: float) -> ControlRecord:
    """The record of the aggregator's announcement of this run's model (it carries the contract
    address; its offset and SHA-256 pin the trainers to it)."""
    deadline = time.monotonic() + timeout_s
    bootstrap = run.stack.bootstrap("platform")
    offset = 0  # each look reads on from where the last one ended, to the topic's end, then sleeps
    while time.monotonic() < deadline:
        check_alive(run)
        for record in read_control(bootstrap, MODEL_CONTROL_TOPIC, start_offset=offset, expected=ModelControl,
                                   to_end=True, poll_ms=100):
            if record.message.model_id == run.run_id:
                return record
            offset = record.offset + 1
        time.sleep(0.3)
    raise TrainingFailed(f"the aggregator did not announce the model within {timeout_s:.0f} s:\n"
                         f"{run.aggregator.log_tail() if run.aggregator else ''}")


def check_alive(run: Run) -> None:
    """Raise :class:`TrainingFailed` when a job exited with an error."""
    for job in run.jobs():
        code = job.exit_code()
        if code not in (None, 0):
            raise TrainingFailed(f"job {job.name} exited with code {code}; last lines of {job.log_path}:\n"
                                 f"{job.log_tail()}")


def start_run(current: local.Stack, workload: Workload, options: RunOptions, runs_dir: Path,
              token_address: str | None = None) -> Run:
    """Publish the data, build the model, start the aggregator, wait for its announcement, start the trainers."""
    run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run = Run(run_id, runs_dir / run_id, current, options)
    run.directory.mkdir(parents=True, exist_ok=True)
    ensure_topic(current.bootstrap("platform"), MODEL_CONTROL_TOPIC, configs=CONTROL_TOPIC_CONFIG)
    publish_workload(current, workload, run_id)
    job = aggregator_job(run, workload, build_model_file(run, workload))
    run.training_started_at = time.time()
    run.aggregator_account = new_account(run.directory / "keys" / "aggregator.key")
    if options.mode == "blockchain":
        job = create_training(run, job, token_address or deploy_token_once(current))
    else:
        job = replace(job, wallet_key_file=str(run.aggregator_account.key_file))
    run.aggregator = run.job("aggregator", job).start()
    record = wait_for_announcement(run, timeout_s=180)
    assert isinstance(record.message, ModelControl)
    run.announcement = record.message
    run.announcement_pin = RecordPin(0, record.offset, hashlib.sha256(record.raw).hexdigest())
    run.trainers = [run.job(f"client-{index}", trainer_job(run, index)).start()
                    for index in range(1, options.clients + 1)]
    return run


def wait_for_end(run: Run, timeout_s: float, on_round=None) -> dict[str, Any]:
    """Wait for the aggregator to finish; ``on_round(record)`` sees each round as it is recorded."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    assert run.aggregator is not None
    while run.aggregator.exit_code() is None:
        check_alive(run)
        rounds = run.rounds_done()
        for record in rounds[seen:]:
            if on_round:
                on_round(record)
        seen = len(rounds)
        if time.monotonic() > deadline:
            raise TrainingFailed(f"the training did not finish within {timeout_s:.0f} s")
        time.sleep(0.2)
    check_alive(run)
    for record in run.rounds_done()[seen:]:
        if on_round:
            on_round(record)
    for trainer in run.trainers:
        trainer.wait(timeout_s=max(30.0, 3 * run.options.stop_timeout_s / 10))
    check_alive(run)
    final = run.final()
    if final is None:
        raise TrainingFailed(f"the aggregator exited without a final report; see {run.aggregator.log_path}")
    return final
