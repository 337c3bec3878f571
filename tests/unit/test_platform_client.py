"""The platform client's error lines and its checked download, against a tiny stand-in HTTP server
(the whole flow against the real backend is in tests/backend/test_platform_cli.py)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kafkaml.cli.platform_client import PlatformClient, PlatformError, _filename, describe_errors

PAYLOAD = b"model bytes " * 1000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith("/api/results/1/model/"):
            self._send(200, PAYLOAD, {"X-Content-SHA256": hashlib.sha256(PAYLOAD).hexdigest(),
                                      "Content-Disposition": 'attachment; filename="../../etc/toy-1.keras"'})
        elif self.path.startswith("/api/results/2/model/"):
            self._send(200, PAYLOAD, {"X-Content-SHA256": "0" * 64})  # a body that does not match its header
        elif self.path.startswith("/api/models/"):
            self._send(502, b"<html>Bad gateway</html>", {})
        else:
            self._send(400, json.dumps({"clients": [{}, {"identity": ["not an address"]}]}).encode(),
                       {"Content-Type": "application/json"})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def client() -> Iterator[PlatformClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PlatformClient(f"http://127.0.0.1:{server.server_address[1]}/", "t0ken", timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()


def test_download_is_kept_only_when_its_sha256_matches(client: PlatformClient, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = client.download_model(1, None)
    assert done.path == Path("toy-1.keras") and (tmp_path / "toy-1.keras").read_bytes() == PAYLOAD  # no ../
    assert done.sha256 == hashlib.sha256(PAYLOAD).hexdigest() and done.size == len(PAYLOAD)
    with pytest.raises(PlatformError, match="differs from the backend's X-Content-SHA256 0000"):
        client.download_model(2, tmp_path / "tampered.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-1.keras"]  # neither the file nor a partial one


def test_errors_are_one_line_with_the_backends_fields(client: PlatformClient) -> None:
    with pytest.raises(PlatformError) as error:
        client.deploy({})
    assert str(error.value) == "POST /api/deployments/ → 400 Bad Request: clients[1].identity: not an address"
    assert error.value.status == 400 and error.value.body["clients"][1]
    with pytest.raises(PlatformError, match=r"^GET /api/models/ → 502 Bad Gateway: <html>Bad gateway</html>$"):
        client.models()


def test_error_bodies_and_file_names() -> None:
    assert describe_errors({"detail": "Not found."}) == "Not found."
    assert describe_errors({"name": ["This field is required."], "non_field_errors": ["x", "y"]}) == (
        "name: This field is required.; x y")
    assert describe_errors({"data": {"metrics": ["expected an object"]}}) == "data.metrics: expected an object"
    assert _filename('attachment; filename="toy-3.keras"', 3) == "toy-3.keras"
    assert _filename('attachment; filename=".."', 3) == _filename("", 3) == "result-3.keras"


class FakeClient:
    """Rounds 1..3 appear one per poll, the backend is away for two polls, then it finished."""

    def __init__(self) -> None:
        self.polls = 0

    def result(self, result_id: int) -> dict:
        self.polls += 1
        if self.polls in (3, 4):
            raise PlatformError("cannot reach the platform backend at http://x (connection refused)")
        status = "finished" if self.polls >= 6 else "running"
        return {"id": result_id, "model_name": "toy", "status": status, "rounds_done": min(self.polls, 3),
                "final": {"metrics": {"val_loss": 0.1}} if status == "finished" else None, "model_sha256": "ab"}

    def rounds(self, result_id: int, after: int = 0) -> list[dict]:
        return [{"version": v, "val_loss": 1.0 / v, "val_accuracy": 0.5, "elapsed_s": v, "contributions": [
            {"accepted": True}, {"accepted": False, "reason": "stale"}], "transaction": {"gas": 99870, "hash": "0xab"}}
            for v in range(after + 1, min(self.polls, 3) + 1)]


def test_follow_prints_each_round_once_and_rides_out_an_outage(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    from kafkaml.cli import platform as platform_cli

    sleeps: list[float] = []
    monkeypatch.setattr(platform_cli.time, "sleep", sleeps.append)
    assert platform_cli.follow(FakeClient(), 7) == 0
    out, err = capsys.readouterr()
    assert [line.split()[1] for line in out.splitlines() if line.startswith("round ")] == ["1", "2", "3"]
    assert "1 rejected (stale)" in out and "gas 99,870" in out and "training result 7 finished" in out
    assert err.count("retrying for up to") == 1
    assert sleeps == [0.5, 1.0, 2.0, 0.5]  # news, outage ×2 (backing off), news again


def test_token_sources_and_bad_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    from kafkaml.cli import main
    from kafkaml.processes import free_port

    monkeypatch.delenv("KAFKAML_PLATFORM_TOKEN_FILE", raising=False)
    nowhere = f"http://127.0.0.1:{free_port()}"
    admin = tmp_path / "platform-admin.json"
    admin.write_text(json.dumps({"username": "admin", "password": "secret-pw", "token": "abc123"}))
    assert main(["platform", "models", "list", "--url", nowhere, "--token-file", str(admin)]) == 2
    assert f"cannot reach the platform backend at {nowhere}" in capsys.readouterr().err  # the token was accepted
    assert main(["platform", "--url", nowhere, "--token", "bad token\u00e4", "models", "list"]) == 2
    err = capsys.readouterr().err
    assert "is not one" in err and "bad" not in err
    monkeypatch.setenv("KAFKAML_PLATFORM_TOKEN_FILE", str(tmp_path / "missing"))
    assert main(["platform", "--url", nowhere, "results", "list"]) == 2
    assert f"cannot read the API token file {tmp_path / 'missing'}" in capsys.readouterr().err
