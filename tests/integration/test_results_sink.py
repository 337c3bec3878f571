"""Results sink against a real HTTP server (http.server in a thread) and in file mode."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from training_worker.results import (
    FINAL_FILE,
    PROGRESS_FILE,
    UNDELIVERED_FILE,
    Contribution,
    FileSink,
    FinalReport,
    HttpSink,
    RoundReport,
    open_sink,
)
from training_worker.settings import ResultsSettings

ROUND = RoundReport(version=3, val_loss=0.42, val_accuracy=0.9, elapsed_s=12.5,
                    contributions=(Contribution("client-1", 100, 1, 1, reward=10**18, sha256="ab" * 32),
                                   Contribution("client-2", 50, 0, 2, reason="hash_mismatch")))


class Backend:
    """A tiny backend: answers with the queued status codes (then 200) after ``delay_s``."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.delay_s = 0.0
        self.received: list[dict] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(backend.delay_s)
                status = backend.statuses.pop(0) if backend.statuses else 200
                parsed = json.loads(body) if self.headers["Content-Type"] == "application/json" else None
                backend.received.append({"status": status, "body": parsed, "raw": body, "method": self.command,
                                         "path": self.path, "type": self.headers["Content-Type"],
                                         "headers": dict(self.headers)})
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            do_PUT = do_POST  # noqa: N815 (http.server's name)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # do not wait for a deliberately slow answer on close
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/results/7"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture()
def backend() -> Iterator[Backend]:
    running = Backend()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_records_are_posted_as_json(backend: Backend, tmp_path: Path) -> None:
    sink = open_sink(ResultsSettings(backend.url, "7", tmp_path), sender="aggregator", backoff_s=0.01)
    assert isinstance(sink, HttpSink)
    sink.progress(ROUND)
    sink.final(FinalReport({"loss": np.float32(0.25), "accuracy": float("nan")}, "/models/final.keras", 30.0,
                           {"contract": "0xabc"}))
    first, final = (request["body"] for request in backend.received)
    assert backend.received[0]["type"] == "application/json"
    assert (first["result_id"], first["sender"], first["kind"], first["data"]["version"]) == ("7", "aggregator", "progress", 3)
    assert first["data"]["contributions"][0] == {"client": "client-1", "samples": 100, "staleness": 1, "base_version": 1,
                                                 "reward": "1000000000000000000", "accepted": True, "reason": "",
                                                 "sha256": "ab" * 32}
    assert first["data"]["contributions"][1]["accepted"] is False
    assert final["kind"] == "final" and final["data"]["metrics"] == {"loss": 0.25, "accuracy": None}
    assert final["data"]["model_path"] == "/models/final.keras" and final["data"]["contract"] == "0xabc"
    assert not (tmp_path / PROGRESS_FILE).exists() and not (tmp_path / FINAL_FILE).exists()


def test_server_errors_are_retried_until_delivered(backend: Backend, tmp_path: Path) -> None:
    backend.statuses = [503, 500]
    HttpSink(backend.url, FileSink(tmp_path), attempts=3, backoff_s=0.01).progress(ROUND)
    assert [request["status"] for request in backend.received] == [503, 500, 200]
    assert not (tmp_path / PROGRESS_FILE).exists()


def test_refused_record_is_not_retried_and_is_spooled(backend: Backend, tmp_path: Path) -> None:
    backend.statuses = [400]
    HttpSink(backend.url, FileSink(tmp_path, "7"), attempts=3, backoff_s=0.01).progress(ROUND)
    assert len(backend.received) == 1
    (spooled,) = lines(tmp_path / PROGRESS_FILE)
    assert spooled["kind"] == "progress" and spooled["data"]["version"] == 3


def test_failing_backend_never_stops_training_and_loses_nothing(backend: Backend, tmp_path: Path) -> None:
    backend.statuses = [500] * 4
    sink = HttpSink(backend.url, FileSink(tmp_path), attempts=3, backoff_s=0.01)
    sink.progress(ROUND)                      # three attempts, then spooled and kept
    sink.progress({"version": 4})             # backend known down: a single attempt (it fails too)
    assert len(backend.received) == 4
    assert [line["data"]["version"] for line in lines(tmp_path / PROGRESS_FILE)] == [3, 4]
    assert [line["data"]["version"] for line in lines(tmp_path / UNDELIVERED_FILE)] == [3, 4]
    sink.final({"metrics": {}})               # the backend answers again: the kept records go first
    delivered = [request["body"] for request in backend.received[4:]]
    assert [(m["kind"], m["data"].get("version")) for m in delivered] == [("progress", 3), ("progress", 4),
                                                                          ("final", None)]
    assert lines(tmp_path / UNDELIVERED_FILE) == []


def test_a_restarted_job_sends_what_its_predecessor_could_not(backend: Backend, tmp_path: Path) -> None:
    backend.statuses = [500] * 3
    HttpSink(backend.url, FileSink(tmp_path), attempts=3, backoff_s=0.01).progress(ROUND)  # the job dies here
    restarted = HttpSink(backend.url, FileSink(tmp_path), attempts=3, backoff_s=0.01)
    restarted.progress({"version": 4})
    assert [r["body"]["data"]["version"] for r in backend.received[3:]] == [3, 4]
    assert all(r["path"] == "/results/7/reports/" for r in backend.received)


def test_job_token_and_model_upload(backend: Backend, tmp_path: Path) -> None:
    model = tmp_path / "final.keras"
    model.write_bytes(b"keras-bytes")
    sink = HttpSink(backend.url + "/", FileSink(tmp_path), token="t0ken", backoff_s=0.01)
    sink.final(FinalReport({"loss": 0.1}, str(model), 1.0))
    upload, final = backend.received
    assert (upload["method"], upload["path"], upload["raw"]) == ("PUT", "/results/7/model/", b"keras-bytes")
    assert upload["headers"]["X-Content-SHA256"] == hashlib.sha256(b"keras-bytes").hexdigest()
    assert final["path"] == "/results/7/reports/" and final["body"]["kind"] == "final"
    assert {r["headers"]["Authorization"] for r in backend.received} == {"Job t0ken"}


def test_slow_backend_times_out_and_spools(backend: Backend, tmp_path: Path) -> None:
    backend.delay_s = 1.0
    sink = HttpSink(backend.url, FileSink(tmp_path), timeout_s=0.1, attempts=2, backoff_s=0.01)
    started = time.monotonic()
    sink.final(FinalReport({"loss": 0.1}, None, 1.0))
    assert time.monotonic() - started < 0.8
    assert json.loads((tmp_path / FINAL_FILE).read_text())["data"]["metrics"] == {"loss": 0.1}


def test_unreachable_backend_spools(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = HttpSink(f"http://127.0.0.1:{port}/results", FileSink(tmp_path), attempts=2, backoff_s=0.01)
    sink.progress(ROUND)
    assert lines(tmp_path / PROGRESS_FILE)[0]["data"]["val_loss"] == 0.42


def test_file_mode_appends_progress_across_restarts_and_writes_final(tmp_path: Path) -> None:
    directory = tmp_path / "results"
    first = open_sink(ResultsSettings("", "9", directory), sender="client-1")
    assert isinstance(first, FileSink)
    first.progress(ROUND)
    FileSink(directory, "9", "client-1").progress({"version": 4, "val_loss": float("inf"), "weights_norm": np.float64(2.5)})
    FileSink(directory, "9").final(FinalReport({"accuracy": 0.93}, str(directory / "final.keras"), 40.0))
    progress = lines(directory / PROGRESS_FILE)
    assert [p["data"]["version"] for p in progress] == [3, 4]
    assert {(p["result_id"], p["sender"], p["kind"]) for p in progress} == {("9", "client-1", "progress")}
    assert progress[1]["data"] == {"version": 4, "val_loss": None, "weights_norm": 2.5}
    final = json.loads((directory / FINAL_FILE).read_text())
    assert final["kind"] == "final" and final["data"]["metrics"] == {"accuracy": 0.93}
    assert not list(directory.glob(".*.tmp"))


def test_a_finishing_job_keeps_sending_until_the_backend_is_back(backend: Backend, tmp_path: Path) -> None:
    backend.statuses = [503] * 6  # down for the model upload and the final record, then back
    model = tmp_path / "final.keras"
    model.write_bytes(b"weights")
    sink = HttpSink(backend.url, FileSink(tmp_path), attempts=1, backoff_s=0.01)
    sink.progress(ROUND)
    sink.final(FinalReport({"loss": 0.1}, str(model), 1.0))
    assert len(sink.undelivered) == 3
    sink.close(timeout_s=30)
    delivered = [(r["method"], r["path"]) for r in backend.received if r["status"] == 200]
    assert delivered == [("POST", "/results/7/reports/"), ("PUT", "/results/7/model/"), ("POST", "/results/7/reports/")]
    assert sink.undelivered == [] and lines(tmp_path / UNDELIVERED_FILE) == []
