"""A client's federated backend takes every record of the platform's model control topic, as its
model control logger relays them: hostile records never stop the logger and each is listed as
rejected with its reason; every way the announcement check refuses one is visible (real broker,
real chain, the backend on PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import requests

from kafkaml.ledger import AggregatorLedger, PlatformLedger
from kafkaml.local import stack as local
from kafkaml.local.accounts import new_account
from kafkaml.pointers import WeightsPointer
from kafkaml.relay_records import EXCERPT_BYTES, MAX_ANNOUNCEMENT_BYTES
from kafkaml.signing import SIGNATURE_HEADER, sign
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic
from tests.backend.client_services import FederatedBackend
from tests.backend.hostile_records import hostile_records, produce
from tests.conftest import unique
from tests.integration.test_announcement_trust import announcement


def announced(federated: FederatedBackend, topic: str) -> list[dict]:
    answer = requests.get(f"{federated.url}/api/models/", params={"limit": 1000},
                          headers={"Authorization": f"Token {federated.client.token}"}, timeout=10)
    return sorted((m for m in answer.json()["results"] if m["control_topic"] == topic),
                  key=lambda m: m["control_offset"])


def test_no_record_stops_the_model_logger(federated_backend: FederatedBackend, local_stack: local.Stack,
                                          tmp_path: Path) -> None:
    """Issue 18: one empty record on the platform's model control topic stopped every client's
    model control logger, so no announcement reached any client again."""
    bootstrap, topic = local_stack.bootstrap("platform"), unique("model-control")
    ensure_topic(bootstrap, topic, configs=CONTROL_TOPIC_CONFIG)
    valid = announcement(unique("model"), epochs=1)
    signature = [(SIGNATURE_HEADER, sign(federated_backend.signer.private_key(), valid))]
    hostile = hostile_records(valid, signature, largest=MAX_ANNOUNCEMENT_BYTES)
    produce(bootstrap, topic, [(record.value, record.headers) for record in hostile] + [(valid, signature)])
    logger = federated_backend.model_logger(local_stack, topic, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(announced(federated_backend, topic)) <= len(hostile) and logger.exit_code() is None:
            assert time.monotonic() < deadline, (announced(federated_backend, topic), logger.log_tail())
            time.sleep(0.3)
        assert logger.exit_code() is None, logger.log_tail()
    finally:
        logger.stop()
    models = announced(federated_backend, topic)
    assert [m["control_offset"] for m in models] == list(range(len(hostile) + 1))
    assert models[-1]["state"] == "accepted" and models[-1]["reason"] == "", models[-1]
    for record, model in zip(hostile, models, strict=False):
        assert model["state"] == "rejected" and record.reason in model["reason"], (record.what, model)
        value = (record.value or b"") if record.readable else b""
        assert model["size"] == len(value) and model["sha256"] == hashlib.sha256(value).hexdigest()
        assert len(model["excerpt"]) <= 4 * EXCERPT_BYTES and model["message"] is None


def test_each_way_the_announcement_check_refuses(federated_backend: FederatedBackend, local_stack: local.Stack,
                                                 tmp_path: Path) -> None:
    """What the model control logger would deliver, posted as it does: each announcement the
    client must not trust is registered as rejected with why; the genuine ones are accepted."""
    rpc, admin_key = local_stack.chain.address, local_stack.account("platform").private_key()
    signer, stranger = federated_backend.signer, new_account(tmp_path / "stranger.key")

    def anchored_training(token_address: str, epochs: int = 1) -> tuple[str, bytes]:
        """A training created by the factory behind ``token_address`` and started with the hash of
        its announcement, which is returned too."""
        aggregator = new_account(tmp_path / f"{unique('aggregator')}.key")
        PlatformLedger.fund(rpc, admin_key, aggregator.address, 10**17)
        address = PlatformLedger.create_training(rpc, admin_key, token_address=token_address, aggregator=aggregator.address,
                                         settings_hash=b"\x01" * 32, weights_topic="kml-weights-t",
                                         strategy="fedasync", rounds=1, budget=10**18)
        recorded = announcement(unique("model"), epochs=epochs, contract=address)
        AggregatorLedger.open(rpc, address, aggregator.private_key()).start(
            b"\x02" * 32, WeightsPointer("kml-weights-t", 0, 0, 1), hashlib.sha256(recorded).digest())
        return address, recorded

    classic = announcement(unique("model"), epochs=1)
    _, recorded = anchored_training(federated_backend.token_address)
    tampered = recorded.replace(b'"epochs":1', b'"epochs":99')
    assert tampered != recorded
    other_token = PlatformLedger.deploy_token(rpc, admin_key)  # another platform (factory and token), same admin
    _, foreign = anchored_training(other_token)
    cases = [  # (value, headers, expected state, words of the reason)
        (classic, {SIGNATURE_HEADER: sign(signer.private_key(), classic)}, "accepted", ""),
        (classic, {SIGNATURE_HEADER: sign(signer.private_key(), classic)}, "rejected", "is known already"),
        (announcement(unique("model"), epochs=1), {}, "rejected", "not signed by the platform's signer"),
        (classic, {SIGNATURE_HEADER: sign(stranger.private_key(), classic)}, "rejected", "not signed"),
        (classic, {SIGNATURE_HEADER: b"\x00" * 65}, "rejected", "not signed"),
        (b"{not json", {}, "rejected", "not valid JSON"),
        (json.dumps({"kind": "model_control", "version": 1}).encode(), {}, "rejected", "is required"),
        (b"x" * (4 * 1024 * 1024 + 1), {}, "rejected", "at most 4194304"),
        (foreign, {}, "rejected", f"belongs to the platform of token {other_token.lower()}"),
        (tampered, {}, "rejected", "not the announcement the training recorded"),
        (recorded, {}, "accepted", ""),
        (recorded, {}, "rejected", "is known already"),
    ]
    topic = unique("model-control")
    relay = {"Authorization": f"Relay {federated_backend.relay_token}"}
    for offset, (value, headers, state, reason) in enumerate(cases):
        body = {"control_topic": topic, "partition": 0, "offset": offset, "record": base64.b64encode(value).decode(),
                "headers": {name: base64.b64encode(item).decode() for name, item in headers.items()}}
        answer = requests.post(f"{federated_backend.url}/api/models/register/", json=body, headers=relay, timeout=60)
        assert answer.status_code == 201, (offset, answer.status_code, answer.text[:500])
        model = answer.json()["model"]
        assert (model["state"], offset) == (state, offset) and reason.lower() in model["reason"].lower(), (offset, model)
        assert model["sha256"] == hashlib.sha256(value).hexdigest() and model["size"] == len(value)
        again = requests.post(f"{federated_backend.url}/api/models/register/", json=body, headers=relay, timeout=60)
        assert again.status_code == 200 and again.json()["model"]["id"] == model["id"], "once per record"
    progress = requests.get(f"{federated_backend.url}/api/models/register/progress/",
                            params={"control_topic": topic}, headers=relay, timeout=10)
    assert progress.json() == {"next_offset": len(cases)}
