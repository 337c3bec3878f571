"""A federated training the way users run one: through the platform's REST API and the clients'
services, on the local stack (what ``kafkaml demo`` does).

The data owners publish their datasets into their own brokers, whose data control loggers
register them with their federated backends; the platform's validation data goes to the
platform broker, whose logger registers it with the platform backend. Then the model, the
configuration and the deployment are created through the REST API; the aggregator job announces
the model, every client's model control logger hands the announcement to its federated backend,
which trusts it as the chain anchors it, matches it to its datasource and starts its trainer.
Nothing here starts a job: the services do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.local.train import publish_datasource
from kafkaml.platform_client import PlatformError, wait_until_built
from kafkaml.workloads import Workload

GET_ATTEMPTS = 8


class ServicesRunFailed(RuntimeError):
    """The platform refused a step or the training did not finish; the message says which."""


@dataclass
class ServicesRun:
    stack: local.Stack
    url: str
    api: requests.Session
    result: dict[str, Any]

    def get(self, path: str, **params: Any) -> Any:
        """A read, retried while the backend does not answer (a restarting worker, a keep-alive
        connection it closed): reads change nothing, so a retry is safe."""
        for attempt in range(GET_ATTEMPTS):
            try:
                answer = self.api.get(f"{self.url}/api/{path}", params=params, timeout=30)
                break
            except requests.ConnectionError:
                if attempt == GET_ATTEMPTS - 1:
                    raise
                time.sleep(min(2.0 ** attempt, 10.0))
        if not answer.ok:
            raise ServicesRunFailed(f"GET /api/{path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()


def _post(api: requests.Session, url: str, path: str, body: dict) -> dict:
    answer = api.post(f"{url}/api/{path}", json=body, timeout=300)
    if not answer.ok:
        raise ServicesRunFailed(f"POST /api/{path}: HTTP {answer.status_code} {answer.text[:500]}")
    return answer.json()


def _get(api: requests.Session, url: str, path: str) -> dict:
    answer = api.get(f"{url}/api/{path}", timeout=30)
    if not answer.ok:
        raise ServicesRunFailed(f"GET /api/{path}: HTTP {answer.status_code} {answer.text[:500]}")
    return answer.json()


def publish_data(stack: local.Stack, workload: Workload, name: str) -> None:
    """Each data owner's dataset into its own broker, the validation data into the platform's:
    their data control loggers register them."""
    for index, share in enumerate(workload.clients, start=1):
        owner = f"client-{index}"
        publish_datasource(stack.bootstrap(owner), f"kml-data-{name}", f"{name}-{owner}", share, workload.classes)
    publish_datasource(stack.bootstrap("platform"), f"kml-validation-{name}", f"{name}-validation",
                       workload.validation, workload.classes, validation_rate=0.95)


def start(stack: local.Stack, workload: Workload, *, name: str, mode: str, rounds: int, epochs: int, batch: int,
          strategy: str, strategy_params: dict[str, Any], reward_policy: str = "improvement",
          data: str | None = None) -> ServicesRun:
    """Data into the brokers (unless ``data`` names a run whose data is there already), then model →
    configuration → deployment through the REST API."""
    backend = stack.backend
    if backend is None:
        raise ServicesRunFailed("the local stack runs no platform backend: 'kafkaml local up' without --no-platform")
    api = requests.Session()
    api.headers["Authorization"] = f"Token {platform.admin_credentials(stack.run_dir)['token']}"
    if data is None:
        publish_data(stack, workload, name)
    clients = {stack.account(f"client-{index}").address if mode == "blockchain" else f"client-{index}": len(share)
               for index, share in enumerate(workload.clients, start=1)}
    validation = _wait(lambda: _datasource(api, backend.address, f"{data or name}-validation"), 60,
                       "the platform's data control logger did not register the validation datasource")
    model = _post(api, backend.address, "models/", {"name": name, "source": workload.model_source,
                                                     "description": f"{workload.name} model of {name}"})
    try:  # built in the background: only a ready model can be deployed
        wait_until_built(lambda: _get(api, backend.address, f"models/{model['id']}/"))
    except PlatformError as exc:
        raise ServicesRunFailed(str(exc)) from None
    configuration = _post(api, backend.address, "configurations/", {"name": name, "ml_models": [model["id"]]})
    deployment = _post(api, backend.address, "deployments/", {
        "configuration": configuration["id"], "validation_datasource": validation["id"], "coordination": mode,
        "rounds": rounds, "epochs": epochs, "batch": batch, "strategy": strategy, "strategy_params": strategy_params,
        "reward_policy": reward_policy, "clients": [{"identity": identity, "sample_ceiling": count} for identity, count in clients.items()]})
    run = ServicesRun(stack, backend.address, api, {"id": deployment["results"][0]})
    run.result = run.get(f"results/{run.result['id']}/")
    if run.result["status"] == "failed":
        raise ServicesRunFailed(f"the training could not start: {run.result['error']}")
    return run


def follow(run: ServicesRun, timeout_s: float, on_round: Callable[[dict], None]) -> dict[str, Any]:
    """Each round as the platform's API shows it, until the training ends; the final result."""
    deadline = time.monotonic() + timeout_s
    seen, delay = 0, 0.2
    while True:
        for record in run.get(f"results/{run.result['id']}/rounds/", after=seen):
            seen = record["version"]
            on_round(record)
        run.result = run.get(f"results/{run.result['id']}/")
        if run.result["status"] != "running":
            for record in run.get(f"results/{run.result['id']}/rounds/", after=seen):
                on_round(record)
            break
        if time.monotonic() > deadline:
            raise ServicesRunFailed(f"the training did not finish within {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(2 * delay, 2.0)
    if run.result["status"] != "finished":
        raise ServicesRunFailed(f"the training ended {run.result['status']}: {run.result['error']}")
    return run.result


def download_model(run: ServicesRun, directory: Path) -> Path:
    answer = run.api.get(f"{run.url}/api/results/{run.result['id']}/model/", timeout=120)
    if not answer.ok:
        raise ServicesRunFailed(f"the final model cannot be downloaded: HTTP {answer.status_code}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run.result['federated_id']}.keras"
    path.write_bytes(answer.content)
    return path


def _datasource(api: requests.Session, url: str, datasource_id: str) -> dict | None:
    answer = api.get(f"{url}/api/datasources/", params={"datasource_id": datasource_id}, timeout=30)
    results = answer.json().get("results", []) if answer.ok else []
    return results[0] if results else None


def _wait(probe: Callable[[], Any], timeout_s: float, failure: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise ServicesRunFailed(failure)
        time.sleep(0.3)
    return found
