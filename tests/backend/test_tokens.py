"""Least privilege for tokens (issue 18, item 7), on live backends: every credential does its one
job and is refused (403) everywhere else.

* a relay token (the loggers') registers control records and reads its progress, nothing else:
  no user endpoint, no job endpoint; on a client's backend it cannot approve, decline or stop a
  participation (the approval policy holds);
* the aggregator's job token reports its result's rounds and uploads its model; an audit's job
  token posts that audit's verdict; an inference worker's job token downloads its result's model
  (``test_inference_api.py``); none can do another's part, nor act as a user, nor register; each
  is revoked when its job ends (the final record; the verdict; the inference's stop);
* a user's token, even staff's, is no relay's and no job's.
"""

from __future__ import annotations

import base64
import json

import requests

from kafkaml import processes
from kafkaml.local import client as local_client
from kafkaml.local import stack as local
from tests.backend.client_services import start_client
from tests.backend.conftest import Backend

ENVELOPE = {"result_id": "", "sender": "aggregator", "time": "t"}
REGISTRATION = {"control_topic": "tokens-control", "partition": 0, "offset": 0,
                "record": base64.b64encode(b"{}").decode()}


def _endpoints(result: int, audit: int) -> dict[str, list[tuple[str, str, dict | None]]]:
    """The platform backend's endpoint classes: (method, path, a body each would accept)."""
    return {
        "user": [("GET", "/api/models/", None), ("GET", f"/api/results/{result}/", None),
                 ("POST", "/api/deployments/", {}), ("POST", f"/api/results/{result}/stop/", None),
                 ("DELETE", f"/api/results/{result}/", None), ("POST", f"/api/results/{result}/audits/", None),
                 ("GET", "/api/datasources/", None), ("POST", "/api/chain/", None), ("GET", "/api/auth/me/", None)],
        "relay": [("POST", "/api/datasources/register/", REGISTRATION),
                  ("GET", "/api/datasources/register/progress/?control_topic=tokens-control", None)],
        "aggregator": [("POST", f"/api/results/{result}/reports/",
                        {**ENVELOPE, "kind": "progress", "data": {"version": 1}}),
                       ("PUT", f"/api/results/{result}/model/", None)],
        "audit": [("POST", f"/api/results/{result}/audits/{audit}/", {"ok": True, "checks": []})],
    }


def _call(url: str, credential: str, method: str, path: str, body: dict | None) -> requests.Response:
    return requests.request(method, url + path, json=body, timeout=30, headers={"Authorization": credential})


def test_each_platform_token_is_refused_outside_its_own_endpoints(backend: Backend) -> None:
    owner = backend.as_user("alice-tokens")
    result, aggregator = backend.dormant_result("alice-tokens")
    audit, auditor = backend.dormant_audit(result)
    _, worker = backend.dormant_inference(result)  # its own call, the model download, is a person's too
    credentials = {"user": owner.headers["Authorization"], "staff": f"Token {backend.admin_token}",
                   "relay": f"Relay {backend.relay_token}", "aggregator": f"Job {aggregator}",
                   "audit": f"Job {auditor}", "inference": f"Job {worker}"}
    endpoints = _endpoints(result, audit)
    refused = []
    for kind, credential in credentials.items():
        own = "user" if kind == "staff" else kind
        for endpoint_class, calls in endpoints.items():
            if endpoint_class == own:
                continue
            for method, path, body in calls:
                answer = _call(backend.url, credential, method, path, body)
                if answer.status_code != 403:
                    refused.append((kind, method, path, answer.status_code, answer.text[:200]))
    assert refused == []
    assert owner.get(f"{backend.url}/api/results/{result}/").json()["status"] == "running"  # nothing happened

    # Each does its own job ...
    relay = backend.relay()
    assert relay.post(f"{backend.url}/api/datasources/register/", json=REGISTRATION).status_code in (200, 201)
    progress = relay.get(f"{backend.url}/api/datasources/register/progress/", params={"control_topic": "tokens-control"})
    assert progress.status_code == 200 and progress.json() == {"next_offset": 1}
    job = {"Authorization": f"Job {aggregator}"}
    report = f"{backend.url}/api/results/{result}/reports/"
    assert requests.post(report, json={**ENVELOPE, "kind": "progress", "data": {"version": 1}}, headers=job,
                         timeout=30).status_code == 201
    verdict = f"{backend.url}/api/results/{result}/audits/{audit}/"
    assert requests.post(verdict, json={"ok": True, "checks": []}, headers={"Authorization": f"Job {auditor}"},
                         timeout=30).status_code == 201
    # ... and is revoked when its job ends: the audit at its verdict, the aggregator at its final record.
    again = requests.post(verdict, json={"ok": False, "checks": []}, headers={"Authorization": f"Job {auditor}"},
                          timeout=30)
    assert again.status_code == 403, again.text
    assert owner.get(f"{backend.url}/api/results/{result}/audits/").json()[0]["status"] == "passed"
    assert requests.post(report, json={**ENVELOPE, "kind": "final", "data": {"metrics": {}}}, headers=job,
                         timeout=30).status_code == 201
    late = requests.post(report, json={**ENVELOPE, "kind": "progress", "data": {"version": 2}}, headers=job, timeout=30)
    assert late.status_code == 403, late.text
    assert owner.get(f"{backend.url}/api/results/{result}/").json()["status"] == "finished"


def test_a_client_relay_token_registers_and_approves_nothing(local_stack: local.Stack, tmp_path) -> None:
    """On a client's federated backend the loggers' relay token registers datasources and
    announcements and reads their progress; it cannot approve, decline or stop a participation
    (which would bypass the site's approval policy) nor read the client's data; the client's
    administrator cannot register as if it were a relay."""
    client = start_client(local_stack, "client-3", "0x" + "11" * 20, "approval", tmp_path)
    try:
        relay_token = (local_client.directory(local_stack, "client-3") / local_client.TOKEN_FILE).read_text().strip()
        relay, admin = f"Relay {relay_token}", f"Token {client.token}"
        people_only = [("POST", f"/api/participations/1/{action}/", None) for action in ("approve", "decline", "stop")]
        people_only += [("GET", "/api/participations/", None), ("GET", "/api/models/", None),
                        ("GET", "/api/wallet/", None), ("GET", "/api/datasources/", None),
                        ("GET", "/api/participations/1/logs/", None)]
        relays_only = [("POST", "/api/datasources/register/", REGISTRATION),
                       ("GET", "/api/datasources/register/progress/?control_topic=tokens-control", None),
                       ("POST", "/api/models/register/", REGISTRATION),
                       ("GET", "/api/models/register/progress/?control_topic=tokens-control", None)]
        answers = {(who, method, path): _call(client.url, credential, method, path, body).status_code
                   for who, credential, calls in (("relay", relay, people_only), ("admin", admin, relays_only))
                   for method, path, body in calls}
        assert set(answers.values()) == {403}, answers
        progress = _call(client.url, relay, "GET", "/api/models/register/progress/?control_topic=tokens-control", None)
        assert progress.status_code == 200 and json.loads(progress.text) == {"next_offset": 0}
        assert _call(client.url, admin, "GET", "/api/participations/1/logs/", None).status_code == 404
    finally:
        for logger in client.loggers:
            logger.stop()
        processes.stop_group(client.pid)
