"""A job uses the very datasource description its service chose (issue 20, pins): the platform's
aggregator validates on the row the user picked, not on a later description of the same
datasource id that anyone who can write the data control topic may publish (real broker, real
backend and aggregator job)."""

from __future__ import annotations

import time

from kafkaml.control_topics import read_control
from kafkaml.jobs import LocalLauncher
from kafkaml.jobs.spec import LABEL_TRAINING
from kafkaml.local import stack as local
from kafkaml.local.train import MODEL_CONTROL_TOPIC
from kafkaml.messages.kinds import ModelControl
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.backend.conftest import Backend
from tests.backend.platform_flow import built_model, register_validation_datasource
from tests.conftest import unique


def _announcement(stack: local.Stack, federated_id: str, timeout_s: float = 120.0) -> ModelControl:
    # Created as the aggregator creates it: a read of a missing topic would make the broker create it
    # with its default partition count, which the aggregator refuses.
    ensure_topic(stack.bootstrap("platform"), MODEL_CONTROL_TOPIC, configs=CONTROL_TOPIC_CONFIG)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [r.message for r in read_control(stack.bootstrap("platform"), MODEL_CONTROL_TOPIC,
                                                 expected=ModelControl, to_end=True)
                 if r.message.model_id == federated_id]
        if found:
            return found[-1]
        time.sleep(1.0)
    raise AssertionError(f"no announcement of {federated_id} within {timeout_s:.0f} s")


def test_the_aggregator_validates_on_the_description_the_user_chose(backend: Backend, local_stack: local.Stack) -> None:
    name = unique("validation")
    chosen = register_validation_datasource(backend, local_stack, name)
    later = register_validation_datasource(backend, local_stack, name)  # the same id, described again
    assert later["id"] != chosen["id"] and later["sha256"] != chosen["sha256"]
    user = backend.as_user("pins")
    model = built_model(backend, user, unique("toy"), TOY_MODEL_SOURCE)
    configuration = user.post(f"{backend.url}/api/configurations/",
                              json={"name": unique("configuration"), "ml_models": [model["id"]]}).json()
    deployed = user.post(f"{backend.url}/api/deployments/", json={
        "configuration": configuration["id"], "validation_datasource": chosen["id"], "coordination": "classic",
        "rounds": 1, "strategy": "fedasync", "clients": [{"identity": "client-1", "sample_ceiling": 600}]})
    assert deployed.status_code == 201, deployed.text
    (result_id,) = deployed.json()["results"]
    try:
        result = user.get(f"{backend.url}/api/results/{result_id}/").json()
        try:
            announced = _announcement(local_stack, result["federated_id"], 60)
        except AssertionError:
            logs = LocalLauncher(backend.run_dir / "platform-jobs").logs({LABEL_TRAINING: str(result_id)}, 60)
            raise AssertionError(str(logs)[-4000:]) from None
        assert announced.training["validation_datasource_sha256"] == chosen["sha256"]
    finally:
        user.post(f"{backend.url}/api/results/{result_id}/stop/")
