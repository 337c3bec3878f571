"""Where the jobs report progress (one record per round) and their final results.

With RESULT_URL set, each record is POSTed as JSON to the platform backend; otherwise it goes to
JSON files in RESULTS_DIR (``progress.jsonl``, append-only, and ``final.json``). Reporting must
never stop a training: a backend that is down, slow or refuses a record costs a bounded number of
retries, then the record is logged and spooled to the same files, so nothing is lost.

Every record, in a file or a POST body, is the same envelope::

    {"result_id": "7", "sender": "aggregator" | "<client id>", "kind": "progress" | "final",
     "time": "<UTC ISO 8601>", "data": {...}}
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import requests

from training_worker.settings import ResultsSettings

log = logging.getLogger(__name__)

PROGRESS_FILE = "progress.jsonl"
FINAL_FILE = "final.json"


@dataclass(frozen=True)
class Contribution:
    """One update's fate in a round. ``reward`` is in token base units (18 decimals); it is
    written as a decimal string because such integers exceed what JSON readers hold exactly."""

    client: str
    samples: int
    staleness: int
    reward: int = 0
    reason: str = ""  # empty when accepted, else a RejectReason value
    sha256: str = ""  # the update's content hash, to match it with the client's own report

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "samples": self.samples, "staleness": self.staleness,
                "reward": str(self.reward), "accepted": not self.reason, "reason": self.reason,
                "sha256": self.sha256}


@dataclass(frozen=True)
class RoundReport:
    """What a round produced: the new global version, its metrics on the platform's validation
    stream, the updates it consumed (or rejected) and the seconds since the training started."""

    version: int
    val_loss: float | None
    val_accuracy: float | None
    elapsed_s: float
    contributions: Sequence[Contribution] = ()

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "val_loss": self.val_loss, "val_accuracy": self.val_accuracy,
                "elapsed_s": self.elapsed_s, "contributions": [c.to_json() for c in self.contributions]}


@dataclass(frozen=True)
class FinalReport:
    """The end of a job: final metrics, where the final Keras model file is, and anything else
    the job wants the backend to keep (contract address, total rewards, ...)."""

    metrics: Mapping[str, Any]
    model_path: str | None
    elapsed_s: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "model_path": self.model_path, "elapsed_s": self.elapsed_s,
                **self.extra}


Record = RoundReport | FinalReport | Mapping[str, Any]


def plain(value: Any) -> Any:
    """``value`` as strict JSON data: numpy scalars unwrapped, NaN/infinity as null, paths as text."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.generic | np.ndarray):
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


class FileSink:
    """Records as JSON files: one line per round in ``progress.jsonl`` (appended, so a restarted
    job continues the same file) and ``final.json`` (replaced atomically)."""

    def __init__(self, directory: Path, result_id: str = "", sender: str = "") -> None:
        self.directory = Path(directory)
        self.result_id = result_id
        self.sender = sender
        self.directory.mkdir(parents=True, exist_ok=True)

    def progress(self, record: Record) -> None:
        self.write(self.envelope("progress", record))

    def final(self, record: Record) -> None:
        self.write(self.envelope("final", record))

    def envelope(self, kind: str, record: Record) -> dict[str, Any]:
        data = record.to_json() if isinstance(record, RoundReport | FinalReport) else record
        return {"result_id": self.result_id, "sender": self.sender, "kind": kind,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "data": plain(data)}

    def write(self, message: dict[str, Any]) -> None:
        """Store an envelope: rounds are appended and flushed to disk, the final record replaced."""
        text = json.dumps(message, allow_nan=False)
        if message["kind"] == "final":
            temporary = self.directory / f".{FINAL_FILE}.tmp"
            temporary.write_text(text + "\n")
            os.replace(temporary, self.directory / FINAL_FILE)
            return
        with open(self.directory / PROGRESS_FILE, "a") as progress:
            progress.write(text + "\n")
            progress.flush()
            os.fsync(progress.fileno())


class HttpSink:
    """Records POSTed to the backend, with retries on server errors and timeouts.

    A 4xx answer means the backend refuses this record, so it is not retried. After a record
    could not be delivered, later ones get a single attempt until the backend answers again, so
    an unreachable backend slows each round by at most one ``timeout_s``.
    """

    def __init__(self, url: str, spool: FileSink, *, timeout_s: float = 5.0, attempts: int = 3,
                 backoff_s: float = 0.5) -> None:
        self.url = url
        self.spool = spool
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.session = requests.Session()
        self.backend_down = False

    def progress(self, record: Record) -> None:
        self._send(self.spool.envelope("progress", record))

    def final(self, record: Record) -> None:
        self._send(self.spool.envelope("final", record))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, allow_nan=False)
        attempts = 1 if self.backend_down else self.attempts
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = self.session.post(self.url, data=body, timeout=self.timeout_s,
                                           headers={"Content-Type": "application/json"})
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if answer.ok:
                self.backend_down = False
                return
            problem = f"HTTP {answer.status_code}: {answer.text[:200]}"
            if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
                break
        self.backend_down = True
        log.warning("results backend %s did not take the %s record (%s); spooled to %s",
                    self.url, message["kind"], problem, self.spool.directory)
        self.spool.write(message)


ResultsSink = FileSink | HttpSink


def open_sink(settings: ResultsSettings, sender: str = "", **http_options: Any) -> ResultsSink:
    """The sink the job's settings ask for: HTTP when RESULT_URL is set (spooling to files), else files.

    ``sender`` ("aggregator" or the client id) tells the backend whose record it is, as the
    aggregator and the trainers of one training may report to the same result.
    """
    files = FileSink(settings.directory, settings.result_id, sender)
    return HttpSink(settings.url, files, **http_options) if settings.url else files
