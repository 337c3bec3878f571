"""The platform aggregator job (``python -m training_worker.aggregator``): Algorithm 1, hardened.

1. Rebuild the user's model from the builder's checked Keras JSON (MODEL_ARCHITECTURE_FILE: this
   process holds the platform key and never runs user code); publish the genesis weights
   (version 0) to the platform Kafka; open the training on the coordinator (contract or control
   topic) and announce the model.
2. Round after round: wait for queued updates; reject the hashes accepted before (duplicates),
   fetch each other one (refusing a size other than the model's before reading it) and verify its
   hash and that it names its sender, base version and training, measure it on the platform's
   own validation stream, aggregate with the chosen strategy, reward from the measured
   improvement, publish the new global weights and record the round (new version + outcomes +
   rewards) in one coordinator call.
3. After the last round: close the training (which pays the rewards) and store the final model
   and metrics.

Everything the rounds depend on lives in the coordinator and Kafka, so a restarted aggregator
resumes from the newest recorded version with the same queue: nothing is counted twice and no
update is lost. Weights published but not yet recorded are simply never referenced (the restart
aggregates the same queue again); the restart tests kill the job exactly there and in the other
gaps (the :mod:`kafkaml.faults` points). Exit code 0 only when the training finished.

A server optimizer's moments (:class:`kafkaml.strategies.ServerState`) are the one state that is
neither: the aggregator keeps them in the results directory, next to the announcement, one file per
published version named by its content hash, written before the version is recorded; a restart
resumes from the file of the newest recorded version (or the genesis state at version 0) and
refuses to go on without it, since versions stepped from another state would not pass the audit.

Anyone who can write to the platform Kafka can write records into the global weights topic.
Reads go by pointer and hash, so such records are never mistaken for weights; a publication they
interleave with is retried with back-off for up to STOP_TIMEOUT (nothing is recorded until it
succeeds) before the job gives up with exit code 1, to be restarted once the topic is quiet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from kafkaml import kafka
from kafkaml.architecture import ArchitectureError, check_input_shape, rebuild, statistics_positions
from kafkaml.config import ConfigError
from kafkaml.faults import fault_point
from kafkaml.logs import configure as configure_logging
from kafkaml.messages.kinds import ModelControl
from kafkaml.privacy import privacy_spent
from kafkaml.rewards import rejection_counts
from kafkaml.strategies import ServerState
from kafkaml.topics import CONTROL_TOPIC_CONFIG, WEIGHTS_TOPIC_CONFIG, ensure_topic, weights_topic
from kafkaml.weights.codec import Decoded, payload_size, update_metadata, version_metadata, weight_specs
from kafkaml.weights.transport import WeightsPublishError, fetch_decoded, fetch_weights, publish_weights
from training_worker.announcement import AnnouncementError, find_datasource, training_settings
from training_worker.coordination.base import Outcome, PlatformCoordinator, QueuedUpdate, Submission, Version
from training_worker.coordination.factory import platform_coordinator
from training_worker.evaluation import Score, Validator
from training_worker.results import Contribution, FinalReport, RoundReport, open_sink
from training_worker.rounds import RoundResult, Screened, run_round
from training_worker.settings import AggregatorSettings, load_aggregator_settings

log = logging.getLogger("training_worker.aggregator")

#: The announcement as first published, kept so that a restarted aggregator publishes the very
#: bytes whose hash the training recorded (and pins the same validation datasource).
ANNOUNCEMENT_FILE = "announcement.json"
#: Pauses between publications of the global weights that other writers interleaved with.
PUBLISH_RETRY_FIRST_S = 1.0
PUBLISH_RETRY_MAX_S = 30.0
#: A server optimizer's state after each version, ``<content hash>.npz``, for restarts.
STATE_DIRECTORY = "server_state"


class ServerStateLost(RuntimeError):
    """A stateful strategy's training cannot resume: the newest version's server state is missing."""


class Aggregator:
    """One training's aggregation loop; all state beyond the current weights is in the coordinator,
    but for a server optimizer's moments, kept in the results directory (see the module docstring)."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self.settings = settings
        self.training = settings.training
        self.bootstrap = settings.bootstrap_servers
        self.started = time.monotonic()
        keras.utils.set_random_seed(self.training.seed)
        stream = settings.stream
        if stream.datasource_id is None:
            raise ConfigError("DATASOURCE_ID is required for the aggregator: the platform's validation datasource")
        self.announcement_file = Path(settings.results.directory) / ANNOUNCEMENT_FILE
        stored = self.announcement_file.read_bytes() if self.announcement_file.exists() else None
        # The description the platform chose; after a restart, the one this training announced.
        pinned = json.loads(stored)["training"]["validation_datasource_sha256"] if stored else stream.datasource_sha256
        validation, self.validation_sha256 = find_datasource(
            stream.bootstrap_servers, stream.control_topic, stream.datasource_id, self.training.start_timeout_s,
            sha256=pinned, at=stream.datasource_pin if pinned == stream.datasource_sha256 else None)
        check_input_shape(settings.model.input_shape, validation.input_shape)
        self.model = rebuild(settings.model.architecture, settings.model.compile_config)
        #: Shapes and dtypes of the weights: with the metadata they fix every payload's exact size.
        self.specs = weight_specs(self.model.get_weights())
        #: Batch normalisation's moving statistics; the genesis metadata records them for the audit.
        self.statistics = statistics_positions(self.model)
        if settings.strategy.dp is not None and self.statistics:
            raise ConfigError(f"{settings.strategy.name} with differential privacy (dp_clip) cannot train this model: "
                              "it has batch normalisation, whose moving statistics are measured on the clients' data "
                              "and are not bounded by clipping")
        self.validator = Validator.from_stream(self.model, validation, stream.bootstrap_servers)
        self.strategy = settings.strategy
        self.policy = settings.reward_policy
        self.weights_topic = weights_topic(settings.federated_id)
        self.ceilings = {client.lower(): ceiling for client, ceiling in settings.client_ceilings.items()}
        ensure_topic(self.bootstrap, self.weights_topic, configs=WEIGHTS_TOPIC_CONFIG)
        self.producer = kafka.producer(self.bootstrap)
        self.coordinator: PlatformCoordinator = platform_coordinator(settings, self.weights_topic)
        self.sink = open_sink(settings.results, sender="aggregator")
        self.validation = validation
        #: Rejected updates recorded without a version, reported with the next one.
        self.released: list[Screened] = []
        #: Each client's recorded rejections that count against it (lower case), rebuilt at start.
        self.rejections: Counter[str] = Counter()
        self.state_directory = Path(settings.results.directory) / STATE_DIRECTORY

    def fetch_update(self, update: QueuedUpdate) -> Decoded:
        """The update's weights and metadata; a payload of another size than this model's with the
        metadata its sender must have written is refused before anything is allocated."""
        expected = payload_size(self.specs, update_metadata(self.settings.federated_id, update.client,
                                                            update.base_version))
        return fetch_decoded(self.bootstrap, update.pointer, update.content_hash,
                             timeout_s=self.training.fetch_timeout_s, expected_size=expected)

    def fetch_version(self, number: int) -> list:
        """A global version: recorded by this job's own key, so trusted (and payloads written
        before versions carried metadata stay readable)."""
        version = self.coordinator.version(number)
        return fetch_weights(self.bootstrap, version.pointer, version.content_hash,
                             timeout_s=self.training.fetch_timeout_s)

    def publish(self, weights: list, version: int) -> tuple:
        """Publish global version ``version``'s weights (see :func:`kafkaml.weights.version_metadata`);
        records that foreign writers interleave only delay it.

        Raises :class:`WeightsPublishError` once it kept failing for STOP_TIMEOUT (0: never).
        """
        deadline = time.monotonic() + self.training.stop_timeout_s
        delay = PUBLISH_RETRY_FIRST_S
        metadata = version_metadata(self.settings.federated_id, version, self.statistics)
        while True:
            try:
                return publish_weights(self.producer, self.weights_topic, weights, metadata=metadata)
            except WeightsPublishError as exc:
                if self.training.stop_timeout_s and time.monotonic() + delay > deadline:
                    raise
                log.warning("publishing the global weights failed (%s); retrying in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(2 * delay, PUBLISH_RETRY_MAX_S)

    def start(self) -> tuple[Version, list]:
        """Genesis on a new training; on a restart, the newest recorded version and its weights.

        The announcement is built before the training starts, so that its hash is recorded with
        the genesis: clients trust only the announcement with that hash."""
        latest = self.coordinator.latest()
        announcement = self.announcement()
        if latest is None:
            weights = self.model.get_weights()
            pointer, content_hash = self.publish(weights, 0)
            latest = self.coordinator.start(content_hash, pointer, hashlib.sha256(announcement).digest())
            log.info("training %s started: genesis %s at %s", self.settings.federated_id, content_hash.hex()[:16],
                     self.coordinator.identity)
        else:
            weights = self.fetch_version(latest.number)
            log.info("resuming training %s at version %d", self.settings.federated_id, latest.number)
        recorded = self.coordinator.announcement_hash()
        if recorded is not None and recorded != hashlib.sha256(announcement).digest():
            log.error("the announcement kept in %s is not the one the training recorded: clients will not trust it",
                      self.announcement_file)
        ensure_topic(self.bootstrap, self.settings.model_logger_topic, configs=CONTROL_TOPIC_CONFIG)
        self.producer.send(self.settings.model_logger_topic, announcement, partition=0,
                           key=self.settings.federated_id.encode(),
                           headers=self.coordinator.announcement_headers(announcement)).get(timeout=15)
        return latest, weights

    def announcement(self) -> bytes:
        """The model announcement's bytes: as first built and kept in the results directory."""
        if self.announcement_file.exists():
            return self.announcement_file.read_bytes()
        settings = self.settings
        training = training_settings(self.model, epochs=self.training.epochs, batch=self.training.batch,
                                     weights_topic=self.weights_topic, strategy=self.strategy.description_json(),
                                     fit_kwargs=self.training.fit_kwargs)
        training["validation_datasource_sha256"] = self.validation_sha256
        raw = ModelControl(
            model_id=settings.federated_id,
            input_shape=tuple(self.validation.input_shape), output_shape=tuple(self.model.output_shape[1:]),
            platform_bootstrap=self.bootstrap, coordination=settings.coordination,
            architecture=settings.model.architecture, input_dtype=self.validation.input_dtype,
            label_dtype=self.validation.label_dtype, data_restriction=settings.data_restriction,
            min_data=settings.min_data, aggregation_rounds=settings.rounds, training=training,
            blockchain=self.coordinator.blockchain_info(), control_topic=self.coordinator.control_topic(),
            clients=self.coordinator.announced_clients(settings.client_ceilings),
        ).encode()
        self.announcement_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.announcement_file.with_suffix(".tmp")
        temporary.write_bytes(raw)
        temporary.replace(self.announcement_file)
        return raw

    def state_file(self, content_hash: bytes) -> Path:
        return self.state_directory / f"{content_hash.hex()}.npz"

    def save_state(self, content_hash: bytes, state: ServerState | None) -> None:
        """Keep the server state after the version published as ``content_hash`` (before recording it)."""
        if state is None:
            return
        self.state_directory.mkdir(parents=True, exist_ok=True)
        path = self.state_file(content_hash)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            np.savez(file, *state.arrays())
        temporary.replace(path)

    def load_state(self, version: Version, weights: list) -> ServerState | None:
        """The server state after ``version`` (None for a stateless strategy)."""
        if not self.strategy.stateful:
            return None
        if version.number == 0:
            return self.strategy.initial_state(weights)
        path = self.state_file(version.content_hash)
        if not path.exists():
            raise ServerStateLost(f"{self.strategy.name} keeps server state, and the state after version "
                                  f"{version.number} is not in {self.state_directory}")
        with np.load(path, allow_pickle=False) as stored:
            return ServerState.from_arrays([stored[f"arr_{i}"] for i in range(len(stored.files))], len(weights))

    def prune_states(self, content_hash: bytes) -> None:
        """Only the newest recorded version's state is needed after a restart."""
        if self.state_directory.exists():
            keep = self.state_file(content_hash)
            for path in self.state_directory.iterdir():
                if path != keep:
                    path.unlink(missing_ok=True)

    def capped(self, update: QueuedUpdate) -> QueuedUpdate:
        """The update with its reported sample count capped to the client's registered ceiling
        (the contract does the same in blockchain mode; classic clients are capped here). A
        client the platform registered no ceiling for weighs as one sample."""
        if not self.ceilings:
            return update
        ceiling = self.ceilings.get(update.client.lower(), 1)
        return replace(update, samples=min(update.samples, ceiling))

    def within_budget(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Rewards cut, in queue order, to what the training's budget has left (the contract
        reverts a round that credits more)."""
        left = max(0, self.settings.reward_budget - self.coordinator.credited())
        capped = []
        for outcome in outcomes:
            reward = min(outcome.reward, left)
            left -= reward
            capped.append(replace(outcome, reward=reward))
        return capped

    def run(self) -> int:
        version, weights = self.start()
        state = self.load_state(version, weights)
        previous = self.validator.score(weights)
        cache: dict[Submission, Screened] = {}
        accepted = self.coordinator.accepted_hashes()
        self.rejections = self.coordinator.rejections()
        needed = self.strategy.updates_per_round
        idle_since = time.monotonic()
        while version.number < self.settings.rounds and not self.coordinator.is_finished():
            queued = [self.capped(update) for update in
                      self.coordinator.wait_for_updates(needed, self.training.poll_interval_s)]
            started = time.monotonic()
            result = run_round(queued, weights, version.number, self.strategy, self.validator, previous,
                               self.policy, self.fetch_update, self.fetch_version, cache,
                               self.settings.federated_id, accepted, self.ceilings, self.statistics, state,
                               self.rejections)
            if result.weights is None:  # too many rejected: wait for one more than is queued
                needed = len(queued) - self.release_rejected(queued, result) + 1
                if time.monotonic() - idle_since > self.training.stop_timeout_s:
                    log.error("no usable update for %.0f s; closing the training early",
                              self.training.stop_timeout_s)
                    self.finish(weights, previous)
                    return 1
                continue
            pointer, content_hash = self.publish(result.weights, version.number + 1)
            self.save_state(content_hash, result.state)
            fault_point("aggregator.after_publish")
            result.outcomes = self.within_budget(result.outcomes)
            version = self.coordinator.record_round(content_hash, pointer, result.outcomes)
            fault_point("aggregator.after_record")
            weights, state, previous, cache, idle_since = result.weights, result.state, result.new, {}, time.monotonic()
            if state is not None:
                self.prune_states(version.content_hash)
            accepted |= {outcome.content_hash for outcome in result.outcomes if outcome.accepted}
            self.count_rejections(result.outcomes)
            needed = self.strategy.updates_per_round
            self.report_round(version, result, time.monotonic() - started)
        self.finish(weights, previous)
        return 0

    def release_rejected(self, queued: list[QueuedUpdate], result: RoundResult) -> int:
        """Record the rejected updates without a version while the round waits for more, once
        every registered client has an update queued, so that their clients may submit again;
        returns how many left the queue. Each client has one place in the contract's queue, and a
        trainer trains a version again only once its update left the queue: without this, a
        synchronous round whose updates were rejected waited for ever. Waiting until every place
        is taken bounds these transactions (docs/ledger.md, funding): a single client's rejected
        updates cannot make one each. The coordinator records what it can (the contract: the
        rejected updates at the head of the queue, which is consumed in order). They are
        reported with the next version, before whose record the chain's history lists them too."""
        if self.ceilings and len({update.client.lower() for update in queued}) < len(self.ceilings):
            return 0
        rejected = [item for item in result.screened if item.reason is not None]
        if not rejected:
            return 0
        left = self.coordinator.record_rejections([
            Outcome(item.queued.client, item.queued.content_hash, item.queued.pointer, False, 0, str(item.reason))
            for item in rejected])
        self.count_rejections(left)
        released = {outcome.submission for outcome in left}
        self.released += [item for item in rejected if item.queued.submission in released]
        return len(released)

    def count_rejections(self, outcomes: list[Outcome]) -> None:
        """Count the recorded rejections against their clients (the reward policy's exclusion)."""
        self.rejections.update(rejection_counts((o.client, o.accepted, o.reason) for o in outcomes))

    def report_round(self, version: Version, result: RoundResult, seconds: float) -> None:
        rewards = {outcome.submission: outcome.reward for outcome in result.outcomes}
        screened, self.released = [*self.released, *result.screened], []
        self.sink.progress(RoundReport(
            version=version.number, val_loss=result.new.loss, val_accuracy=result.new.accuracy,
            elapsed_s=round(time.monotonic() - self.started, 3),
            sha256=version.content_hash.hex(), pointer=version.pointer.to_json(),
            contributions=[Contribution(
                client=item.queued.client, samples=item.queued.samples,
                staleness=version.number - 1 - item.queued.base_version, base_version=item.queued.base_version,
                reward=rewards.get(item.queued.submission, 0), reason=str(item.reason or ""),
                sha256=item.queued.content_hash.hex(),
            ) for item in screened],
            transaction=self.coordinator.last_transaction(),
            privacy=self.privacy(version, result),
        ))
        accepted = sum(item.reason is None for item in result.screened)
        log.info("version %d: val_loss %.4f val_accuracy %s from %d update(s) in %.2f s", version.number,
                 result.new.loss, result.new.accuracy, accepted, seconds)

    def privacy(self, version: Version, result: RoundResult) -> dict | None:
        """The privacy spent after ``version`` (None without differential privacy)."""
        if self.strategy.dp is None:
            return None
        accepted = [item.queued.content_hash for item in result.screened if item.reason is None]
        return privacy_spent(self.strategy.dp, version.number, len(accepted), accepted)

    def finish(self, weights: list, score: Score) -> None:
        self.coordinator.finish()
        self.model.set_weights(weights)
        directory = Path(self.settings.results.directory)
        directory.mkdir(parents=True, exist_ok=True)
        model_path = directory / f"{self.settings.federated_id}.keras"
        self.model.save(model_path)
        latest = self.coordinator.latest()
        self.sink.final(FinalReport(
            metrics={"val_loss": score.loss, "val_accuracy": score.accuracy},
            model_path=str(model_path), elapsed_s=round(time.monotonic() - self.started, 3),
            extra={"coordination": self.settings.coordination, "identity": self.coordinator.identity,
                   "versions": latest.number if latest else 0,
                   "final_sha256": latest.content_hash.hex() if latest else None,
                   "rewards": {client: str(amount) for client, amount in self.coordinator.rewards().items()}},
        ))
        self.sink.close(self.settings.results.delivery_timeout_s)
        log.info("training %s finished at version %s; model saved to %s", self.settings.federated_id,
                 latest.number if latest else 0, model_path)



def main() -> int:
    configure_logging()
    try:
        settings = load_aggregator_settings()
        aggregator = Aggregator(settings)
    except (ConfigError, ArchitectureError, AnnouncementError) as exc:
        log.error("cannot start the aggregator: %s", exc)
        return 2
    try:
        return aggregator.run()
    except ServerStateLost as exc:
        log.error("cannot resume the training: %s", exc)
        return 2
    except WeightsPublishError as exc:
        log.error("the global weights could not be published for %.0f s (%s); nothing was recorded, restart "
                  "the job once only the aggregator writes to %s", settings.training.stop_timeout_s, exc,
                  aggregator.weights_topic)
        return 1


if __name__ == "__main__":
    sys.exit(main())
