"""The jobs refuse bad input at start with one clear line and exit code 2 (Kubernetes: no retry loop
on a configuration error), before touching the chain or Kafka."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kafkaml.builder import describe
from kafkaml.local import stack as local
from kafkaml.model_source import build_model
from kafkaml.sinks import DATA_CONTROL_TOPIC, publish_datasource
from kafkaml.toydata import TOY_MODEL_SOURCE, toy_blobs
from kafkaml.workloads import Samples
from tests.conftest import unique
from tests.jobs import local_job


def aggregator(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    job = local_job(tmp_path, "aggregator", "training_worker.aggregator", env).start()
    code = job.wait(timeout_s=120)
    return code, job.log_path.read_text()


def described(source: str) -> str:
    """The builder's output for ``source`` (our own test sources, built in this process)."""
    return describe(build_model(source)).to_json()


def base_env(stack: local.Stack, tmp_path: Path, description: str) -> dict[str, str]:
    datasource = unique("validation")
    publish_datasource(stack.bootstrap("platform"), unique("kml-validation"), datasource,
                       Samples(*toy_blobs(200, 1)), 3, validation_rate=0.9)
    model_file = tmp_path / "model.json"
    model_file.write_text(description)
    return {"COORDINATION": "classic", "BOOTSTRAP_SERVERS": stack.bootstrap("platform"),
            "FEDERATED_STRING_ID": unique("bad"), "MODEL_ARCHITECTURE_FILE": str(model_file),
            "DATASOURCE_ID": datasource, "DATA_CONTROL_TOPIC": DATA_CONTROL_TOPIC,
            "RESULTS_DIR": str(tmp_path / "results"), "START_TIMEOUT": "20",
            "ETH_WALLET_KEY_FILE": str(stack.account("platform").key_file)}  # classic: signs the announcement


def test_missing_variables_are_named(tmp_path: Path) -> None:
    code, log = aggregator(tmp_path, {"COORDINATION": "blockchain"})
    assert code == 2
    for variable in ("BOOTSTRAP_SERVERS", "FEDERATED_STRING_ID", "MODEL_ARCHITECTURE_FILE"):
        assert variable in log
    trainer = local_job(tmp_path, "trainer", "training_worker.trainer", {"COORDINATION": "classic"}).start()
    assert trainer.wait(timeout_s=60) == 2
    assert "KML_CLOUD_BOOTSTRAP_SERVERS" in trainer.log_path.read_text()


def test_a_model_file_with_a_lambda_layer_is_refused(local_stack: local.Stack, tmp_path: Path) -> None:
    """The aggregator holds the platform key: it checks the allow-list itself, whatever wrote the file."""
    description = json.loads(described(TOY_MODEL_SOURCE))
    architecture = json.loads(description["architecture"])
    architecture["config"]["layers"][1].update(class_name="Lambda", config={"name": "spy", "function": {}})
    description["architecture"] = json.dumps(architecture)
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, json.dumps(description)))
    assert code == 2
    # Keras numbers the models a process builds: sequential, sequential_1, ...
    assert re.search(r"'Lambda' \(module 'keras.layers'\) at sequential(_\d+)?/spy is not allowed", log), log
    assert "Traceback" not in log


def test_a_model_file_that_is_not_the_builders_output_is_refused(local_stack: local.Stack, tmp_path: Path) -> None:
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, TOY_MODEL_SOURCE))
    assert code == 2
    assert "MODEL_ARCHITECTURE_FILE=" in log and "the model description is malformed" in log


def test_model_input_shape_that_does_not_fit_the_data_is_refused(local_stack: local.Stack, tmp_path: Path) -> None:
    wrong = TOY_MODEL_SOURCE.replace("keras.Input(shape=(8,))", "keras.Input(shape=(5,))")
    assert wrong != TOY_MODEL_SOURCE
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, described(wrong)))
    assert code == 2
    assert "input shape (5,) does not match the data's (8,)" in log


def test_unknown_validation_datasource_times_out_clearly(local_stack: local.Stack, tmp_path: Path) -> None:
    env = base_env(local_stack, tmp_path, described(TOY_MODEL_SOURCE)) | {"DATASOURCE_ID": "no-such-datasource",
                                                              "START_TIMEOUT": "2"}
    code, log = aggregator(tmp_path, env)
    assert code == 2
    assert "datasource 'no-such-datasource' is not described" in log
