"""A federated training the way users run one: through the platform's REST API and the clients'
services, on the local stack (what ``kafkaml demo`` does), and its final model deployed for
inference the same way.

The data owners publish their datasets into their own brokers, whose data control loggers
register them with their federated backends; the platform's validation data goes to the
platform broker, whose logger registers it with the platform backend. Then the model, the
configuration and the deployment are created through the REST API; the aggregator job announces
the model, every client's model control logger hands the announcement to its federated backend,
which trusts it as the chain anchors it, matches it to its datasource and starts its trainer.
Nothing here starts a job: the services do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import requests
from kafka import TopicPartition

from kafkaml import kafka
from kafkaml.cli.platform_client import PlatformError, wait_until_built
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.local.train import publish_workload
from kafkaml.topics import ensure_topic
from kafkaml.workloads import Workload

GET_ATTEMPTS = 8


class ServicesRunFailed(RuntimeError):
    """The platform refused a step or the training did not finish; the message says which."""


@dataclass
class ServicesRun:
    #: The local stack it runs on (its brokers serve ``infer``); None on another deployment.
    stack: local.Stack | None
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
        publish_workload(stack, workload, name)
    clients = [stack.account(f"client-{index}").address if mode == "blockchain" else f"client-{index}"
               for index in range(1, len(workload.clients) + 1)]
    run = deploy(api, backend.address, workload, clients, name=name, data=data or name, mode=mode, rounds=rounds,
                 epochs=epochs, batch=batch, strategy=strategy, strategy_params=strategy_params,
                 reward_policy=reward_policy)
    run.stack = stack
    return run


def deploy(api: requests.Session, url: str, workload: Workload, clients: list[str], *, name: str, data: str,
           mode: str, rounds: int, epochs: int, batch: int, strategy: str, strategy_params: dict[str, Any],
           reward_policy: str = "improvement") -> ServicesRun:
    """Model → configuration → deployment through the platform's REST API at ``url``, once the
    platform registered the validation datasource of the run ``data``; ``clients``: each share's
    identity (its wallet's address in blockchain mode, its client id in classic mode), in the
    workload's order. Any deployment runs this: the local stack's, a compose project's."""
    validation = _wait(lambda: _datasource(api, url, f"{data}-validation"), 60,
                       "the platform's data control logger did not register the validation datasource")
    model = _post(api, url, "models/", {"name": name, "source": workload.model_source,
                                        "description": f"{workload.name} model of {name}"})
    try:  # built in the background: only a ready model can be deployed
        wait_until_built(lambda: _get(api, url, f"models/{model['id']}/"))
    except PlatformError as exc:
        raise ServicesRunFailed(str(exc)) from None
    configuration = _post(api, url, "configurations/", {"name": name, "ml_models": [model["id"]]})
    deployment = _post(api, url, "deployments/", {
        "configuration": configuration["id"], "validation_datasource": validation["id"], "coordination": mode,
        "rounds": rounds, "epochs": epochs, "batch": batch, "strategy": strategy, "strategy_params": strategy_params,
        "reward_policy": reward_policy, "clients": [{"identity": identity, "sample_ceiling": len(share)}
                                                    for identity, share in zip(clients, workload.clients, strict=True)]})
    run = ServicesRun(None, url, api, {"id": deployment["results"][0]})
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


def audit(run: ServicesRun, timeout_s: float) -> dict[str, Any]:
    """The recompute audit of a finished blockchain training, started through the REST API (the
    platform runs it as a job); its report once it ended, passed or not."""
    _post(run.api, run.url, f"results/{run.result['id']}/audits/", {})
    deadline = time.monotonic() + timeout_s
    while (found := run.get(f"results/{run.result['id']}/audits/")[0])["status"] == "running":
        if time.monotonic() > deadline:
            raise ServicesRunFailed(f"the audit did not end within {timeout_s:.0f} s")
        time.sleep(1.0)
    return found


def infer(run: ServicesRun, samples: np.ndarray, timeout_s: float) -> np.ndarray:
    """The final model deployed for inference through the REST API, as a user deploys it: the
    samples published to its input topic keyed by their index, each predicted class read back from
    its output topic (one answer per sample: the worker answers exactly once), then the inference
    stopped and deleted. Returns the classes in the samples' order."""
    if run.stack is None:
        raise ServicesRunFailed("this inference reads and writes the local stack's broker: no local stack here")
    bootstrap = run.stack.bootstrap("platform")
    name = run.result["federated_id"]
    input_topic, output_topic = f"kml-infer-in-{name}", f"kml-infer-out-{name}"
    ensure_topic(bootstrap, input_topic)
    inference = _post(run.api, run.url, "inferences/", {
        "result": run.result["id"], "input_format": "RAW", "input_topic": input_topic, "output_topic": output_topic,
        "input_config": {"data_type": "float32", "data_reshape": list(samples.shape[1:])}})
    try:
        producer = kafka.producer(bootstrap)
        for index, sample in enumerate(samples):
            producer.send(input_topic, key=str(index).encode(), value=np.asarray(sample, "<f4").tobytes())
        producer.flush()
        producer.close()
        return _answers(bootstrap, output_topic, len(samples), timeout_s, lambda: run.get(f"inferences/{inference['id']}/"))
    finally:
        _post(run.api, run.url, f"inferences/{inference['id']}/stop/", {})
        run.api.delete(f"{run.url}/api/inferences/{inference['id']}/", timeout=30)


def _answers(bootstrap: str, topic: str, count: int, timeout_s: float, status: Callable[[], dict]) -> np.ndarray:
    """The class of every answer on ``topic`` (partition 0), by the key it carries."""
    classes = np.full(count, -1, np.int64)
    partition = TopicPartition(topic, 0)
    consumer = kafka.assigned_consumer(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        _wait(lambda: True if topic in consumer.topics() else None, timeout_s, f"the inference never created {topic}")
        consumer.assign([partition])
        consumer.seek(partition, 0)
        answered = 0
        while answered < count:
            for record in consumer.poll(timeout_ms=500).get(partition, []):
                classes[int(record.key)] = json.loads(record.value)["class"]
                answered += 1
            if time.monotonic() > deadline:
                state = status()
                raise ServicesRunFailed(f"the inference answered {answered} of {count} samples within {timeout_s:.0f} "
                                        f"s; it is {state['status']} {state.get('error', '')}")
    finally:
        consumer.close()
    return classes


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
