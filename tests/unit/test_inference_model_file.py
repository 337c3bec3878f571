"""The inference worker's model file: bounded before and while it is read, kept only when its
SHA-256 is the pinned one, and fetched with the deployment's token (a real HTTP server here)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from inference_worker.model import ModelRefused, model_file
from tests.unit.test_inference_settings import JOB

CONTENT = b"PK\x03\x04" + bytes(range(256)) * 40
SHA = hashlib.sha256(CONTENT).hexdigest()


class Server(http.server.BaseHTTPRequestHandler):
    """Serves CONTENT to the right token: with its length, or chunked without one."""

    chunked = False

    def do_GET(self) -> None:  # noqa: N802 (the handler's name)
        if self.headers.get("Authorization") != "Job s3cret":
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200)
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(CONTENT), 1000):
                piece = CONTENT[start:start + 1000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, type[Server]]]:
    (tmp_path / "token").write_text("s3cret\n")
    monkeypatch.setenv("INFERENCE_TOKEN_FILE", str(tmp_path / "token"))
    handler = type("Handler", (Server,), {"protocol_version": "HTTP/1.1"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/results/7/model/", handler
    server.shutdown()


def test_a_model_file_is_copied_when_its_sha256_is_pinned(tmp_path: Path) -> None:
    (tmp_path / "given.keras").write_bytes(CONTENT)
    (tmp_path / "copy").mkdir()
    job = replace(JOB, model_file=str(tmp_path / "given.keras"), model_sha256=SHA)
    assert model_file(job, tmp_path / "copy").read_bytes() == CONTENT
    with pytest.raises(ModelRefused, match=f"is {len(CONTENT)} bytes, at most {len(CONTENT) - 1}"):
        model_file(job, tmp_path / "copy", max_bytes=len(CONTENT) - 1)
    with pytest.raises(ModelRefused, match=f"has SHA-256 {SHA}, MODEL_SHA256 pins {'0' * 64}: refused"):
        model_file(replace(job, model_sha256="0" * 64), tmp_path / "copy")
    assert not (tmp_path / "copy" / "model.keras").exists(), "a refused file is not kept"
    with pytest.raises(ModelRefused, match="cannot be read: No such file"):
        model_file(replace(job, model_file=str(tmp_path / "missing.keras")), tmp_path / "copy")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_download_is_bounded_and_pinned(served, tmp_path: Path, chunked: bool) -> None:
    url, handler = served
    handler.chunked = chunked
    job = replace(JOB, model_file=None, model_url=url, model_sha256=SHA)
    assert model_file(job, tmp_path).read_bytes() == CONTENT
    too_large = "is larger than" if chunked else f"is {len(CONTENT)} bytes, at most"
    with pytest.raises(ModelRefused, match=too_large):
        model_file(job, tmp_path, max_bytes=len(CONTENT) - 1)
    with pytest.raises(ModelRefused, match="MODEL_SHA256 pins"):
        model_file(replace(job, model_sha256="1" * 64), tmp_path)
    assert not (tmp_path / "model.keras").exists(), "nothing of a refused download is kept"


def test_a_download_without_the_token_or_a_server_is_refused(served, monkeypatch, tmp_path: Path) -> None:
    url, _ = served
    job = replace(JOB, model_file=None, model_url=url, model_sha256=SHA)
    (tmp_path / "wrong").write_text("guess")
    monkeypatch.setenv("INFERENCE_TOKEN_FILE", str(tmp_path / "wrong"))
    with pytest.raises(ModelRefused, match="answered 401"):
        model_file(job, tmp_path)
    with pytest.raises(ModelRefused, match="cannot fetch the model from http://127.0.0.1:9/: ConnectionError"):
        model_file(replace(job, model_url="http://127.0.0.1:9/"), tmp_path)
