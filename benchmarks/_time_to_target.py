"""Time to a target accuracy under stragglers: shared by ``async_under_stragglers.py`` and ``vs_flower.py``.

- **Held-out set**: exactly the samples our aggregator scores every new version on (the
  validation datasource it is given, read back from Kafka by the aggregator's own loader), so
  its per-version accuracy, recorded with a timestamp, *is* the held-out accuracy of that
  version: no extra evaluation competes with the run for the CPU, and nothing comes from the
  clients. The centralised reference and the Flower ServerApp are evaluated on the same samples.
- **Target**: the centralised CNN's accuracy on that set, minus a margin (3 points).
- **Clock**: seconds since the training started (ours: the data in Kafka and the model built,
  ``Run.training_started_at``; Flower: ``flwr run`` started, the federation already up).
- A run goes on until its first version at or above the target (or a set time past it), or
  the time cap.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _runs import envelopes, epoch_seconds

from kafkaml.heterogeneity import Heterogeneity
from kafkaml.local import stack as local
from kafkaml.local.train import RunOptions, check_alive, start_run
from kafkaml.sinks import DATA_CONTROL_TOPIC, PLATFORM_VALIDATION_RATE, publish_datasource
from kafkaml.workloads import Samples, Workload

#: Seconds between looks at the aggregator's record while a run goes on.
POLL_S = 0.5


@dataclass
class Curve:
    """Held-out accuracy against seconds since the training started, for one run."""

    label: str
    target: float
    cap_s: float
    points: list[tuple[float, float]] = field(default_factory=list)
    #: "target" (reached it), "cap" (time cap first), "finished" (ran out of rounds first).
    stopped: str = ""
    #: Updates each client got into the versions (consumed by a round, accepted or not).
    consumed: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    #: Accepted updates' samples × local epochs / dataset size: passes over the data consumed.
    data_epochs: float = 0.0
    #: Where a round's time went (ours only; medians over the run's updates, seconds): see ``breakdown``.
    breakdown: dict[str, float | None] = field(default_factory=dict)

    @property
    def time_to_target_s(self) -> float | None:
        return next((t for t, accuracy in self.points if accuracy >= self.target), None)

    @property
    def final_accuracy(self) -> float | None:
        return self.points[-1][1] if self.points else None

    @property
    def reason(self) -> str:
        """Why there is no time to target (empty when there is one)."""
        if self.time_to_target_s is not None:
            return ""
        best = max((accuracy for _, accuracy in self.points), default=None)
        reached = "no version recorded" if best is None else f"best held-out accuracy {best:.4f}"
        ended = {"cap": f"within the {self.cap_s:.0f} s cap", "finished": "before the rounds ran out"}
        return f"target {self.target:.4f} not reached {ended.get(self.stopped, '')} ({reached})"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "time_to_target_s": self.time_to_target_s, "final_accuracy": self.final_accuracy,
                "reason": self.reason}


def heldout_set(current: local.Stack, workload: Workload) -> Samples:
    """The samples our aggregator scores on: the workload's validation data published as
    ``start_run`` publishes it (same sink, rate and seed, hence the same split), read back with
    the aggregator's own loader."""
    from training_worker.announcement import find_datasource
    from training_worker.evaluation import Validator

    bootstrap = current.bootstrap("platform")
    datasource = f"heldout-{uuid.uuid4().hex[:8]}"
    publish_datasource(bootstrap, f"kml-{datasource}", datasource, workload.validation, workload.classes,
                       validation_rate=PLATFORM_VALIDATION_RATE)
    control, _ = find_datasource(bootstrap, DATA_CONTROL_TOPIC, datasource, timeout_s=60)
    loaded = Validator.from_stream(None, control, bootstrap)
    return Samples(loaded.x, loaded.y.astype(np.int64).reshape(-1))


def stragglers(clients: int, slow: int, factor: float) -> dict[int, Heterogeneity]:
    """The last ``slow`` clients, ``factor`` times slower (RunOptions.heterogeneity)."""
    return {index: Heterogeneity(slowdown=factor) for index in range(clients - slow + 1, clients + 1)}


def union(workload: Workload) -> Samples:
    """The whole dataset: the union of the clients' shares (a random split covers it)."""
    return Samples(np.concatenate([share.x for share in workload.clients]),
                   np.concatenate([share.y for share in workload.clients]))


def centralised_accuracy(whole: Samples, heldout: Samples, epochs: int, batch: int, seed: int) -> tuple[float, float]:
    """The paper's CNN trained on ``whole`` for ``epochs``: its held-out accuracy and training seconds."""
    from rat_centralised import train_cnn

    predicted, seconds = train_cnn(whole, heldout, epochs, batch, seed)
    return float(np.mean(predicted == heldout.y)), seconds


def centralised_curve(whole: Samples, heldout: Samples, epochs: int, batch: int, seed: int) -> list[float]:
    """The held-out accuracy after each of ``epochs`` epochs of one centralised training: entry
    e − 1 is what :func:`centralised_accuracy` gives for e epochs (same data, batch and seed),
    for one training instead of one per epoch count."""
    from rat_centralised import train_cnn

    accuracies: list[float] = []

    def measure(model) -> None:
        predicted = np.argmax(model.predict(heldout.x, batch_size=1024, verbose=0), axis=1)
        accuracies.append(float(np.mean(predicted == heldout.y)))

    train_cnn(whole, heldout, epochs, batch, seed, after_epoch=measure)
    return accuracies


def run_until_target(current: local.Stack, workload: Workload, options: RunOptions, runs_dir: Path, label: str,
                     target: float, cap_s: float, say=print, past_target_s: float = 0.0) -> Curve:
    """Train (``options.rounds`` should be more than can be done within the cap) until
    ``past_target_s`` after the first version at or above ``target``, the cap, or the last round;
    then stop the jobs. Going past the target shows where a run ends up, not just when it first
    got there."""
    curve = Curve(label, target, cap_s)
    run = start_run(current, workload, options, runs_dir)
    seen = 0
    try:
        while True:
            # Whether the aggregator has ended is read first, so its last rounds are read after.
            finished = run.aggregator is not None and run.aggregator.exit_code() == 0
            rounds = envelopes(run.progress_file)
            for envelope in rounds[seen:]:
                record = envelope["data"]
                seconds = epoch_seconds(envelope["time"]) - run.training_started_at
                curve.points.append((round(seconds, 3), record["val_accuracy"]))
                for item in record["contributions"]:
                    curve.consumed[item["client"]] = curve.consumed.get(item["client"], 0) + 1
                    curve.rejected += not item["accepted"]
                    curve.data_epochs += item["accepted"] * item["samples"] * options.epochs
                say(f"  {label} v{record['version']} held-out accuracy {record['val_accuracy']:.4f} at {seconds:.1f} s")
            seen = len(rounds)
            reached = curve.time_to_target_s
            if reached is not None and time.time() - run.training_started_at >= min(cap_s, reached + past_target_s):
                curve.stopped = "target"
            elif time.time() - run.training_started_at > cap_s:
                curve.stopped = "cap"
            elif finished:
                curve.stopped = "finished"
            if curve.stopped:
                break
            check_alive(run)
            time.sleep(POLL_S)
    finally:
        run.stop()
    curve.data_epochs = round(curve.data_epochs / sum(len(share) for share in workload.clients), 3)
    curve.breakdown = breakdown(run, options.clients)
    return curve


def breakdown(run, clients: int) -> dict[str, float | None]:
    """Medians over the run's updates, from the trainers' and the aggregator's records (seconds):

    - ``fit_s``: the local training (Keras ``fit`` on the Kafka-fed stream);
    - ``client_overhead_s``: the rest of a trainer's round, without a simulated wait: fetching
      the global weights from Kafka and checking their hash, publishing the update, submitting it;
    - ``submit_to_version_s``: from the submission to the round that consumed it being recorded
      (queueing behind other updates, fetching and screening each update by an evaluation on the
      validation set, aggregating, evaluating the new model, publishing and recording it);
    - ``first_version_s``: from the training's start to its first version (job start-up, imports,
      the validation set read from Kafka, the genesis, the announcement, the trainers' start-up,
      their streams read and the first round).
    """
    updates = [envelope for index in range(1, clients + 1)
               for envelope in envelopes(run.directory / f"client-{index}" / "progress.jsonl")
               if envelope.get("kind") == "progress"]
    submitted = {envelope["data"]["sha256"]: epoch_seconds(envelope["time"]) for envelope in updates}
    rounds = envelopes(run.progress_file)
    latencies = [epoch_seconds(envelope["time"]) - submitted[item["sha256"]] for envelope in rounds
                 for item in envelope["data"]["contributions"] if item.get("sha256") in submitted]

    def median(values: list[float]) -> float | None:
        return round(float(np.median(values)), 3) if values else None

    return {
        "fit_s": median([u["data"]["fit_s"] for u in updates]),
        "client_overhead_s": median([u["data"]["seconds"] - u["data"]["fit_s"] - u["data"]["simulated_wait_s"]
                                     for u in updates]),
        "submit_to_version_s": median(latencies),
        "first_version_s": round(epoch_seconds(rounds[0]["time"]) - run.training_started_at, 3) if rounds else None,
    }


def median_or_none(values: list[float | None]) -> float | None:
    """The median when every run has a value; None otherwise (a missing time is not a fast one)."""
    return None if not values or None in values else float(np.median(values))


def median_ratio(pairs: list[tuple[float | None, float | None]]) -> float | None:
    """The median of per-pair ratios a / b; None when any pair lacks a value."""
    return median_or_none([None if a is None or not b else a / b for a, b in pairs])


@dataclass
class Panel:
    """One plot of held-out accuracy against wall time: its runs, with the reference lines if any."""

    title: str
    curves: list[Curve]
    centralised: float | None = None
    target: float | None = None


def plot_panels(panels: list[Panel], path: Path) -> Path:
    """One PNG, the panels side by side; runs of one family (label before " #") share a colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 4.5), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        colours: dict[str, str] = {}
        palette = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
        for curve in panel.curves:
            family = curve.label.split(" #")[0]
            first = family not in colours
            colour = colours.setdefault(family, next(palette))
            times, accuracies = zip(*curve.points, strict=True) if curve.points else ((), ())
            axis.plot(times, accuracies, "-", marker=".", color=colour, alpha=1.0 if first else 0.45,
                      label=family if first else None)
            if curve.time_to_target_s is not None:
                axis.axvline(curve.time_to_target_s, color=colour, linestyle=":", alpha=0.6)
        if panel.centralised is not None:
            axis.axhline(panel.centralised, color="black", linestyle="--", linewidth=1,
                         label=f"centralised {panel.centralised:.3f}")
        if panel.target is not None:
            axis.axhline(panel.target, color="grey", linestyle="-.", linewidth=1, label=f"target {panel.target:.3f}")
        axis.set(title=panel.title, xlabel="seconds since the training started", ylabel="held-out accuracy")
        axis.set_xlim(left=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
