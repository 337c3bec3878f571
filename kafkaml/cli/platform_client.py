"""A small typed client of the platform backend's REST API, used by ``kafkaml platform``.

It speaks HTTP and JSON only (``requests``, ``Authorization: Token <token>``): nothing of the
backend's code is imported, as for any other script. Every failure is a :class:`PlatformError`
whose message is one line: the request, the status and the backend's own (field) errors, or,
when nothing answered, the address that was tried.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

JSON = dict[str, Any]
PAGE = 200
CHUNK = 1 << 20
RUNNING = ("created", "running")
#: The builder's own limit is 120 s; a build may also wait in the platform's queue first.
BUILD_TIMEOUT_S = 600.0


class PlatformError(RuntimeError):
    """The backend refused a request or could not be reached; ``str()`` is one clear line.

    ``status`` is the HTTP status (None when nothing answered) and ``body`` the decoded JSON error,
    e.g. ``{"source": [...], "line": 3}`` for a model that does not build."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    sha256: str
    weights_sha256: str | None


def describe_errors(body: Any, field: str = "") -> str:
    """The backend's error body as one line: ``field: message; clients[1].identity: message``."""
    if isinstance(body, dict):
        return "; ".join(filter(None, (describe_errors(value, f"{field}.{key}" if field else str(key))
                                       for key, value in body.items())))
    if isinstance(body, list) and not all(isinstance(item, str) for item in body):
        return "; ".join(filter(None, (describe_errors(item, f"{field}[{index}]") for index, item in enumerate(body))))
    text = " ".join(body) if isinstance(body, list) else str(body)
    return text if field in ("", "detail", "non_field_errors") else f"{field}: {text}"


class PlatformClient:
    """The REST resources ``kafkaml platform`` uses, one method each; JSON in, JSON out."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call; any failure as a :class:`PlatformError` naming the request."""
        target = f"{self.url}{path}"
        try:
            response = self.session.request(method, target, timeout=self.timeout_s, **kwargs)
        except requests.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "no answer"
            raise PlatformError(f"cannot reach the platform backend at {self.url} ({reason}); start the local "
                                "stack with 'kafkaml local up' or give the backend with --url / "
                                "KAFKAML_PLATFORM_URL") from None
        except requests.Timeout:
            raise PlatformError(f"the platform backend at {self.url} did not answer {method} {path} within "
                                f"{self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise PlatformError(f"{method} {target} failed: {exc}") from None
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return response

    def _error(self, method: str, path: str, response: requests.Response) -> PlatformError:
        try:
            body = response.json()
        except ValueError:
            body = None
        what = f"{method} {path} → {response.status_code} {response.reason}"
        if body is None:
            detail = " ".join(response.text.split())[:200] or "(no body)"
        elif isinstance(body, dict) and "source" in body and "line" in body:
            detail = build_failure(describe_errors(body["source"]), body["line"])
        else:
            detail = describe_errors(body)
        if response.status_code in (401, 403) and re.search(r"token|credentials", detail, re.I):
            detail += " (check the API token: --token, --token-file or KAFKAML_PLATFORM_TOKEN_FILE)"
        return PlatformError(f"{what}: {detail}", response.status_code, body)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, payload: JSON | None = None) -> Any:
        return self.request("POST", path, json=payload).json()

    def every(self, path: str, **params: Any) -> list[JSON]:
        """All items of a paginated list, page by page."""
        items: list[JSON] = []
        while True:
            page = self.get(path, limit=PAGE, offset=len(items), **params)
            items += page["results"]
            if not page["results"] or len(items) >= page["count"]:
                return items

    # resources
    def create_model(self, name: str, source: str, description: str = "", *,
                     build_timeout_s: float = BUILD_TIMEOUT_S) -> JSON:
        """Create the model and wait for its build: the ready model, or a :class:`PlatformError`
        with the builder's error and line (the backend builds in the background)."""
        model = self.post("/api/models/", {"name": name, "source": source, "description": description})
        return wait_until_built(lambda: self.get(f"/api/models/{model['id']}/"), build_timeout_s)

    def models(self) -> list[JSON]:
        return self.every("/api/models/")

    def create_configuration(self, name: str, model_ids: list[int], description: str = "") -> JSON:
        return self.post("/api/configurations/", {"name": name, "ml_models": model_ids, "description": description})

    def datasources(self) -> list[JSON]:
        return self.every("/api/datasources/")

    def deploy(self, payload: JSON) -> JSON:
        return self.post("/api/deployments/", payload)

    def results(self, status: str | None = None) -> list[JSON]:
        return self.every("/api/results/", status=status)

    def result(self, result_id: int) -> JSON:
        return self.get(f"/api/results/{result_id}/")

    def rounds(self, result_id: int, after: int = 0) -> list[JSON]:
        return self.get(f"/api/results/{result_id}/rounds/", after=after or None)

    def stop(self, result_id: int) -> list[str]:
        return self.post(f"/api/results/{result_id}/stop/")["stopped"]

    def infer(self, payload: JSON) -> JSON:
        """Deploy a finished result's model for inference (``payload``: the API's inference input)."""
        return self.post("/api/inferences/", payload)

    def inferences(self) -> list[JSON]:
        return self.every("/api/inferences/")

    def inference(self, inference_id: int) -> JSON:
        return self.get(f"/api/inferences/{inference_id}/")

    def stop_inference(self, inference_id: int) -> list[str]:
        return self.post(f"/api/inferences/{inference_id}/stop/")["stopped"]

    def rollout_inference(self, inference_id: int) -> JSON:
        return self.post(f"/api/inferences/{inference_id}/rollout/")

    def delete_inference(self, inference_id: int) -> None:
        self.request("DELETE", f"/api/inferences/{inference_id}/")

    def download_model(self, result_id: int, destination: Path | None) -> Download:
        """The final ``.keras`` file, streamed to ``destination`` (default: the server's file name)
        and kept only when its SHA-256 equals the ``X-Content-SHA256`` header."""
        response = self.request("GET", f"/api/results/{result_id}/model/", stream=True)
        with response:
            expected = response.headers.get("X-Content-SHA256", "").lower()
            if not expected:
                raise PlatformError(f"GET /api/results/{result_id}/model/ answered without X-Content-SHA256")
            path = destination or Path(_filename(response.headers.get("Content-Disposition", ""), result_id))
            partial = path.with_name(f".{path.name}.part")
            digest, size = hashlib.sha256(), 0
            try:
                with open(partial, "wb") as handle:
                    for chunk in _chunks(response):
                        digest.update(chunk)
                        size += len(chunk)
                        handle.write(chunk)
                if digest.hexdigest() != expected:
                    raise PlatformError(f"the downloaded model's SHA-256 {digest.hexdigest()} differs from the "
                                        f"backend's X-Content-SHA256 {expected}; nothing was kept")
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        return Download(path, size, expected, response.headers.get("X-Weights-SHA256"))


def build_failure(message: str, line: int | None) -> str:
    """A build error as one line: ``the model does not build at line 3: ...`` (the line once)."""
    where = f" at line {line}" if line is not None and not re.search(rf"\bline {line}\b", message) else ""
    return f"the model does not build{where}: {message}"


def wait_until_built(read: Callable[[], JSON], timeout_s: float = BUILD_TIMEOUT_S) -> JSON:
    """The model ``read()`` returns, polled until its build has ended: ready, or a
    :class:`PlatformError` saying why it failed (or that it was still building at ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        model = read()
        if model["status"] == "ready":
            return model
        if model["status"] == "failed":
            raise PlatformError(f"model {model['id']} {model['name']!r}: {build_failure(model['error'], model['line'])}",
                                body=model)
        if time.monotonic() > deadline:
            raise PlatformError(f"model {model['id']} {model['name']!r} is still building after {timeout_s:g} s")
        time.sleep(delay)
        delay = min(2 * delay, 1.0)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(CHUNK)
    except requests.RequestException as exc:
        raise PlatformError(f"the model download broke off: {exc}") from None


def _filename(disposition: str, result_id: int) -> str:
    """The attachment's file name, stripped of any directory part; a safe default otherwise."""
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            name = Path(value.strip('"')).name
            if name not in ("", ".", ".."):
                return name
    return f"result-{result_id}.keras"
