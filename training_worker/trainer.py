"""The client trainer job (``python -m training_worker.trainer``), one per matched datasource.

While the training is active: read the newest global version from the coordinator, fetch its
weights from the platform Kafka and verify their hash, train on the local Kafka stream, publish
the update's weights (their metadata naming this client, its base version and the training) to
the platform Kafka and submit pointer + hash + base version + sample count. Each global version is
trained at most once; a slow or restarted client simply resumes from the newest version (the
protocol is asynchronous). Exit code 0 once the training finished, non-zero on an error, so
Kubernetes retries a failed job; 2, with one line saying why, when it cannot train at all — among
others when the platform did not register this client for the training (on chain, or in the
signed announcement).
"""

from __future__ import annotations

import logging
import sys
import time

from kafkaml import kafka
from kafkaml.config import ConfigError
from kafkaml.faults import fault_point
from kafkaml.logs import configure as configure_logging
from kafkaml.matching import registration_problem
from kafkaml.strategies import Strategy
from kafkaml.streams import split_dataset
from kafkaml.topics import WEIGHTS_TOPIC_CONFIG, ensure_topic, update_topic
from kafkaml.weights.codec import update_metadata
from kafkaml.weights.transport import fetch_weights, publish_weights
from training_worker.announcement import (
    AnnouncementError,
    announced_training,
    check_fits,
    client_datasource,
    rebuild_model,
)
from training_worker.coordination.base import ClientCoordinator, TrainingClosed, UpdateRefused, Version
from training_worker.coordination.factory import open_client
from training_worker.results import open_sink
from training_worker.settings import TrainerSettings, load_trainer_settings

log = logging.getLogger("training_worker.trainer")

#: A client that saw no new version for this long (at least), or for three of its own rounds,
#: and whose update left the queue, trains the current version again: its update was rejected.
RETRAIN_AFTER_MIN_S = 15.0


def wait_for_new_version(coordinator: ClientCoordinator, after: int | None, timeout_s: float,
                         max_delay_s: float, same_after_s: float = float("inf")) -> Version | None:
    """The newest version once it is newer than ``after`` (any version when ``after`` is None)
    and the client's previous update has left the queue; None if the training closed meanwhile.

    One update in flight per client, as the contract allows one pending update per client
    (``UpdatePending``) and the classic queue skips a second one: a client faster than the
    aggregator that kept training would only fill the queue with ever staler updates (the first
    FedBuff stragglers run: the staleness of every aggregated update grew by one per version, to
    23, and the model fell from 0.83 to 0.51).

    After ``same_after_s`` without a newer version the current one is returned again (its update
    was rejected or lost, and if every client waited for a new version the training would
    stall). A fast client whose update still waits in a synchronous round waits too: its second
    update of the same version would take a slow client's place (the first stragglers run: fast
    clients 18–22 updates each, slow ones 10).
    """
    started = time.monotonic()
    deadline = started + timeout_s
    delay = 0.05
    while True:
        view = coordinator.view()  # one call: the version, the phase and the queue together
        latest = view.latest
        newer = latest is not None and (after is None or latest.number > after
                                        or time.monotonic() - started > same_after_s)
        if latest is not None and not view.active:
            return None
        if newer and not view.queued:
            return latest
        if time.monotonic() > deadline:
            raise TimeoutError(f"no global version newer than {after} within {timeout_s:.0f} s")
        coordinator.pause(delay)
        delay = min(delay * 2, max_delay_s)


def keeps_training(strategy: Strategy) -> bool:
    """Whether a client trains the newest version again, even one it trained already, as soon as
    its previous update left the queue.

    FedBuff discounts stale updates and may use more than one update of a client per version:
    its clients keep training, as FedBuff's clients do. FedAsync consumes one update per version,
    and the rules that average updates as equals (FedAvg, median, trimmed mean, Krum, the server
    optimizers) want one update per client and version, as synchronous FedAvg: their clients
    wait for the next version (see :func:`wait_for_new_version` for a rejected update).
    """
    return strategy.updates_per_round > 1 and strategy.discounts_staleness


def run(settings: TrainerSettings) -> int:
    kafka.require_fast_crc()
    timing, stream = settings.training, settings.stream
    platform = settings.platform_bootstrap_servers
    announcement, coordinator = open_client(settings)
    # The federated backend starts a trainer only for a training its client is registered for;
    # checked again here, with the key itself, before any data is read.
    problem = registration_problem(announcement, coordinator.identity, settings.chain.rpc_url if settings.chain else "")
    if problem:
        raise AnnouncementError(f"{problem}; this client does not train it")
    datasource = client_datasource(stream, timing.start_timeout_s)
    check_fits(announcement, datasource)
    training = announced_training(announcement)
    model = rebuild_model(announcement)
    sink = open_sink(settings.results, sender=settings.client_id)
    samples = datasource.count("train")
    dataset = split_dataset(datasource, "train", stream.bootstrap_servers, batch_size=training.batch,
                            shuffle_buffer=min(samples, 4096), seed=timing.seed)
    keep_training = keeps_training(training.strategy)
    # Each client writes its updates to a topic of its own, named after its identity, so the
    # chunks of concurrent uploads never interleave and no client can point into another's.
    own_topic = update_topic(training.weights_topic, coordinator.identity)
    ensure_topic(platform, own_topic, configs=WEIGHTS_TOPIC_CONFIG)
    producer = kafka.producer(platform)
    trained_from: int | None = None
    last_round_s = 0.0
    submitted = 0
    try:
        while True:
            version = wait_for_new_version(coordinator, None if keep_training else trained_from,
                                           timing.stop_timeout_s, timing.poll_interval_s,
                                           same_after_s=max(RETRAIN_AFTER_MIN_S, 3 * last_round_s))
            if version is None:
                break
            started = time.monotonic()
            model.set_weights(fetch_weights(platform, version.pointer, version.content_hash,
                                            timeout_s=timing.fetch_timeout_s))
            fit_started = time.monotonic()
            history = model.fit(dataset, epochs=training.epochs, verbose=0, **training.fit_kwargs)
            fit_s = time.monotonic() - fit_started
            simulated_wait_s = settings.heterogeneity.slow_down(fit_s)  # benchmarks only; 0 by default
            # The payload names this client, its base version and the training: the hash submitted
            # covers them, so no other client can submit this update as its own.
            pointer, content_hash = publish_weights(producer, own_topic, model.get_weights(),
                                                    metadata=update_metadata(announcement.model_id,
                                                                             coordinator.identity, version.number))
            fault_point("trainer.after_publish")
            try:
                coordinator.submit(version.number, content_hash, pointer, samples)
            except TrainingClosed:
                log.info("the training finished while this update was trained; it is not submitted")
                break
            except UpdateRefused as exc:
                log.warning("the update trained from version %d was refused (%s); training on", version.number, exc)
                trained_from = version.number
                continue
            fault_point("trainer.after_submit")
            trained_from = version.number
            last_round_s = time.monotonic() - started
            metrics = {name: float(values[-1]) for name, values in history.history.items()}
            log.info("submitted update trained from version %d (%s) in %.1f s", version.number,
                     ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), time.monotonic() - started)
            sink.progress({"base_version": version.number, "samples": samples, "sha256": content_hash.hex(),
                           "seconds": round(time.monotonic() - started, 3), "fit_s": round(fit_s, 3),
                           "simulated_wait_s": round(simulated_wait_s, 3), "local_metrics": metrics})
            submitted += 1
            settings.heterogeneity.drop_out(submitted)  # benchmarks only; never by default
    finally:
        producer.close()
    sink.final({"last_base_version": trained_from, "samples": samples})
    sink.close(settings.results.delivery_timeout_s)
    log.info("training %s finished; last update trained from version %s", settings.federated_id, trained_from)
    return 0


def main() -> int:
    configure_logging()
    try:
        settings = load_trainer_settings()
    except ConfigError as exc:
        log.error("cannot start the trainer: %s", exc)
        return 2
    try:
        return run(settings)
    except AnnouncementError as exc:
        log.error("cannot train: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
