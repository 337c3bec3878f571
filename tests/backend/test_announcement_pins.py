"""A trainer job is pinned to the announcement its participation was matched with (issue 20): the
federated backend tells it that record's place on the model control topic and its SHA-256, so the
trainer verifies that one record instead of taking the newest announcement of the model's id
(real backend on PostgreSQL; the announcement registered as its model control logger relays it)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import requests

from kafkaml.control_topics import RecordPin
from kafkaml.signing import SIGNATURE_HEADER, sign
from tests.backend.client_services import FederatedBackend
from tests.conftest import unique
from tests.integration.test_announcement_trust import announcement
from training_worker.settings import load_trainer_settings


def test_the_trainer_job_carries_the_announcement_its_participation_matched(
        federated_backend: FederatedBackend) -> None:
    model_id, topic, offset = unique("model"), unique("model-control"), 5
    value = announcement(model_id, epochs=1)
    signature = sign(federated_backend.signer.private_key(), value)
    body = {"control_topic": topic, "partition": 0, "offset": offset, "record": base64.b64encode(value).decode(),
            "headers": {SIGNATURE_HEADER: base64.b64encode(signature).decode()}}
    answer = requests.post(f"{federated_backend.url}/api/models/register/", json=body, timeout=60,
                           headers={"Authorization": f"Relay {federated_backend.relay_token}"})
    assert answer.status_code == 201 and answer.json()["model"]["state"] == "accepted", answer.text[:500]
    # A participation of that model (rows written directly: nothing is matched or launched), the
    # environment its trainer job would be launched with, and the rows gone again (the datasource
    # describes nothing: a later announcement of the session would be matched against it).
    code = f"""
import json
from federated_backend.api.models import AnnouncedModel, Participation
from federated_backend.api.services.participations import announcement_of
from federated_backend.api.services.trainers import trainer_job
from kafkaml.services.registry.models import Datasource
model = AnnouncedModel.objects.get(pk={answer.json()["model"]["id"]})
datasource = Datasource.objects.create(datasource_id={unique("pins")!r}, topic="pins", format="RAW", counts={{}},
                                       input_shape=[8], message={{}}, sha256="0" * 64, control_topic={unique("pins")!r},
                                       control_partition=0, control_offset=0)
participation = Participation.objects.create(model=model, datasource=datasource, state=Participation.State.PROPOSED)
environment = trainer_job(participation, announcement_of(model)).environment()
datasource.delete()
print(json.dumps(environment))
"""
    done = subprocess.run([sys.executable, "-m", "federated_backend", "shell", "-c", code], env=federated_backend.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    environment = json.loads(done.stdout.strip().splitlines()[-1])
    digest = hashlib.sha256(value).hexdigest()
    assert (environment["FEDERATED_MODEL_ID"], environment["ANNOUNCEMENT_PARTITION"],
            environment["ANNOUNCEMENT_OFFSET"], environment["ANNOUNCEMENT_SHA256"]) == (model_id, "0", "5", digest)
    assert load_trainer_settings(environment).announcement_pin == RecordPin(0, offset, digest)
