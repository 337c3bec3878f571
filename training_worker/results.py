"""Where the jobs report progress (one record per round) and their final results.

With RESULT_URL set (the backend's URL of this training result), each record is POSTed as JSON
to ``<RESULT_URL>reports/`` and the final model file PUT to ``<RESULT_URL>model/``, with the job
token scoped to this one result (``Authorization: Job <token>``, from RESULT_TOKEN_FILE);
otherwise records go to JSON files in RESULTS_DIR (``progress.jsonl``, append-only, and
``final.json``). Reporting must never stop a training: a backend that is down, slow or refuses
a record costs a bounded number of retries, then the record is logged and spooled to the same
files, and kept in ``undelivered.jsonl`` to be sent again, oldest first, before the next record
once the backend answers (also after a restart of the job): the backend's reports are
idempotent, so nothing is lost and nothing doubles.

Every record, in a file or a POST body, is the same envelope::

    {"result_id": "7", "sender": "aggregator" | "<client id>", "kind": "progress" | "final",
     "time": "<UTC ISO 8601>", "data": {...}}
"""

from __future__ import annotations

import hashlib
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
UNDELIVERED_FILE = "undelivered.jsonl"


@dataclass(frozen=True)
class Contribution:
    """One update's fate in a round. ``reward`` is in token base units (18 decimals); it is
    written as a decimal string because such integers exceed what JSON readers hold exactly."""

    client: str
    samples: int
    staleness: int
    base_version: int
    reward: int = 0
    reason: str = ""  # empty when accepted, else a RejectReason value
    sha256: str = ""  # the update's content hash, to match it with the client's own report

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "samples": self.samples, "staleness": self.staleness,
                "base_version": self.base_version, "reward": str(self.reward), "accepted": not self.reason, "reason": self.reason,
                "sha256": self.sha256}


@dataclass(frozen=True)
class RoundReport:
    """What a round produced: the new global version (its content hash and Kafka pointer, the
    lineage a user audits), its metrics on the platform's validation stream, the updates it
    consumed (or rejected) and the seconds since the training started."""

    version: int
    val_loss: float | None
    val_accuracy: float | None
    elapsed_s: float
    contributions: Sequence[Contribution] = ()
    transaction: Mapping[str, Any] | None = None  # blockchain mode: the recording transaction
    sha256: str = ""  # the version's content hash, hex
    pointer: Mapping[str, Any] | None = None  # WeightsPointer.to_json() of the version's payload
    #: Central differential privacy: the privacy spent so far (kafkaml.privacy.privacy_spent); None without it.
    privacy: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "val_loss": self.val_loss, "val_accuracy": self.val_accuracy,
                "elapsed_s": self.elapsed_s, "sha256": self.sha256,
                "pointer": dict(self.pointer) if self.pointer else None,
                "contributions": [c.to_json() for c in self.contributions],
                "transaction": dict(self.transaction) if self.transaction else None,
                "privacy": dict(self.privacy) if self.privacy else None}


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

    def model(self, path: Path) -> None:
        """Nothing to send: the model file is already in the results directory."""

    def close(self, timeout_s: float = 0.0) -> None:
        """Files are written as they come: nothing is left to deliver."""

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

    A 4xx answer means the backend refuses this record, so it is not retried (nor kept to be
    sent again). After a record could not be delivered, later ones get a single attempt until the
    backend answers again, so an unreachable backend slows each round by at most one
    ``timeout_s``; once it answers, the undelivered records go first, in order.
    """

    def __init__(self, url: str, spool: FileSink, *, token: str | None = None, timeout_s: float = 5.0,
                 attempts: int = 3, backoff_s: float = 0.5) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.spool = spool
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Job {token}"
        self.undelivered_file = spool.directory / UNDELIVERED_FILE
        self.undelivered = [json.loads(line) for line in self._undelivered_lines()]
        self.backend_down = bool(self.undelivered)

    def progress(self, record: Record) -> None:
        self._deliver(self.spool.envelope("progress", record))

    def model(self, path: Path) -> None:
        """PUT a model file to the result (a newer one replaces it): an incremental training's
        served version, as it is published."""
        self._deliver({"kind": "model", "path": str(path)})

    def final(self, record: Record) -> None:
        """The final model file first (so it is there when the final record says the training
        finished), then the final record."""
        if isinstance(record, FinalReport) and record.model_path and Path(record.model_path).is_file():
            self.model(Path(record.model_path))
        self._deliver(self.spool.envelope("final", record))

    def close(self, timeout_s: float) -> None:
        """Before the job exits: keep sending what is undelivered, with back-off, for up to
        ``timeout_s`` (a backend restarting meanwhile gets everything). What is still
        undelivered then stays in the spool and in ``undelivered.jsonl``."""
        deadline = time.monotonic() + timeout_s
        delay = 1.0
        while self.undelivered and time.monotonic() + delay <= deadline:
            time.sleep(delay)
            self._send_again()
            delay = min(2 * delay, 15.0)
        if self.undelivered:
            log.error("results backend %s did not take %d record(s) within %.0f s; they stay in %s", self.url,
                      len(self.undelivered), timeout_s, self.undelivered_file)

    def _upload(self, path: Path, attempts: int) -> str | None:
        """PUT the model file with its SHA-256 (None once delivered, else the problem)."""
        data = path.read_bytes()
        headers = {"Content-Type": "application/octet-stream", "X-Content-SHA256": hashlib.sha256(data).hexdigest()}
        return self._attempt(self.url + "model/", data, headers, attempts, method="put")

    def _post(self, message: dict[str, Any], attempts: int) -> str | None:
        if message["kind"] == "model":
            return self._upload(Path(message["path"]), attempts)
        return self._attempt(self.url + "reports/", json.dumps(message, allow_nan=False).encode(),
                             {"Content-Type": "application/json"}, attempts)

    def _deliver(self, message: dict[str, Any]) -> None:
        if self.undelivered:
            self._send_again()
        if self.undelivered:  # still down: keep the order
            self._keep(message, "the backend has records still to deliver")
            return
        problem = self._post(message, 1 if self.backend_down else self.attempts)
        if problem is None:
            return
        if problem.startswith("refused"):
            log.warning("results backend %s refused the %s record (%s); spooled to %s", self.url,
                        message["kind"], problem, self.spool.directory)
            self._spool(message)
            return
        self._keep(message, problem)

    def _send_again(self) -> None:
        while self.undelivered:
            problem = self._post(self.undelivered[0], 1)
            if problem is not None and not problem.startswith("refused"):
                return
            self.undelivered.pop(0)
            self._rewrite_undelivered()

    def _keep(self, message: dict[str, Any], problem: str) -> None:
        log.warning("results backend %s did not take the %s record (%s); spooled to %s and kept to send again",
                    self.url, message["kind"], problem, self.spool.directory)
        self._spool(message)
        self.undelivered.append(message)
        self._rewrite_undelivered()

    def _spool(self, message: dict[str, Any]) -> None:
        if message["kind"] != "model":  # the model file is already there
            self.spool.write(message)

    def _attempt(self, url: str, body: bytes, headers: dict[str, str], attempts: int,
                 method: str = "post") -> str | None:
        """None once delivered; otherwise what went wrong ("refused: ..." for a final 4xx)."""
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = self.session.request(method, url, data=body, timeout=self.timeout_s, headers=headers)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if answer.ok:
                self.backend_down = False
                return None
            problem = f"HTTP {answer.status_code}: {answer.text[:200]}"
            if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
                return f"refused: {problem}"
        self.backend_down = True
        return problem

    def _undelivered_lines(self) -> list[str]:
        if not self.undelivered_file.exists():
            return []
        return [line for line in self.undelivered_file.read_text().splitlines() if line.strip()]

    def _rewrite_undelivered(self) -> None:
        temporary = self.undelivered_file.with_name(f".{UNDELIVERED_FILE}.tmp")
        temporary.write_text("".join(json.dumps(m, allow_nan=False) + "\n" for m in self.undelivered))
        os.replace(temporary, self.undelivered_file)


ResultsSink = FileSink | HttpSink


def open_sink(settings: ResultsSettings, sender: str = "", **http_options: Any) -> ResultsSink:
    """The sink the job's settings ask for: HTTP when RESULT_URL is set (spooling to files), else files.

    ``sender`` ("aggregator" or the client id) tells the backend whose record it is, as the
    aggregator and the trainers of one training may report to the same result.
    """
    files = FileSink(settings.directory, settings.result_id, sender)
    if not settings.url:
        return files
    return HttpSink(settings.url, files, token=settings.token, **http_options)
