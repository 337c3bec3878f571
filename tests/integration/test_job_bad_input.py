"""The jobs refuse bad input at start with one clear line and exit code 2 (Kubernetes: no retry loop
on a configuration error), before touching the chain or Kafka."""

from __future__ import annotations

from pathlib import Path

from kafkaml.local import stack as local
from kafkaml.local.jobs import Job
from kafkaml.local.train import publish_datasource
from kafkaml.sinks import DATA_CONTROL_TOPIC
from kafkaml.toydata import TOY_MODEL_SOURCE, toy_blobs
from kafkaml.workloads import Samples
from tests.conftest import unique


def aggregator(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    job = Job("aggregator", "training_worker.aggregator", env, tmp_path / "aggregator.log").start()
    code = job.wait(timeout_s=120)
    return code, job.log_path.read_text()


def base_env(stack: local.Stack, tmp_path: Path, source: str) -> dict[str, str]:
    datasource = unique("validation")
    publish_datasource(stack.bootstrap("platform"), unique("kml-validation"), datasource,
                       Samples(*toy_blobs(200, 1)), 3, validation_rate=0.9)
    source_file = tmp_path / "model.py"
    source_file.write_text(source)
    return {"COORDINATION": "classic", "BOOTSTRAP_SERVERS": stack.bootstrap("platform"),
            "FEDERATED_STRING_ID": unique("bad"), "MODEL_SOURCE_FILE": str(source_file),
            "DATASOURCE_ID": datasource, "DATA_CONTROL_TOPIC": DATA_CONTROL_TOPIC,
            "RESULTS_DIR": str(tmp_path / "results"), "START_TIMEOUT": "20",
            "ETH_WALLET_KEY_FILE": str(stack.account("platform").key_file)}  # classic: signs the announcement


def test_missing_variables_are_named(tmp_path: Path) -> None:
    code, log = aggregator(tmp_path, {"COORDINATION": "blockchain"})
    assert code == 2
    for variable in ("BOOTSTRAP_SERVERS", "FEDERATED_STRING_ID", "MODEL_SOURCE_FILE"):
        assert variable in log
    trainer = Job("trainer", "training_worker.trainer", {"COORDINATION": "classic"}, tmp_path / "trainer.log").start()
    assert trainer.wait(timeout_s=60) == 2
    assert "KML_CLOUD_BOOTSTRAP_SERVERS" in trainer.log_path.read_text()


def test_model_source_with_a_syntax_error_names_the_line(local_stack: local.Stack, tmp_path: Path) -> None:
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, "import keras\nmodel = keras.Sequential([\n"))
    assert code == 2
    assert "syntax error in the model source, line" in log
    assert "Traceback" not in log


def test_model_without_model_variable_is_refused(local_stack: local.Stack, tmp_path: Path) -> None:
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, "import keras\nnet = 1\n"))
    assert code == 2
    assert "must define a variable named `model`" in log


def test_model_input_shape_that_does_not_fit_the_data_is_refused(local_stack: local.Stack, tmp_path: Path) -> None:
    wrong = TOY_MODEL_SOURCE.replace("keras.Input(shape=(8,))", "keras.Input(shape=(5,))")
    assert wrong != TOY_MODEL_SOURCE
    code, log = aggregator(tmp_path, base_env(local_stack, tmp_path, wrong))
    assert code == 2
    assert "input shape (5,) does not match the data's (8,)" in log


def test_unknown_validation_datasource_times_out_clearly(local_stack: local.Stack, tmp_path: Path) -> None:
    env = base_env(local_stack, tmp_path, TOY_MODEL_SOURCE) | {"DATASOURCE_ID": "no-such-datasource",
                                                              "START_TIMEOUT": "2"}
    code, log = aggregator(tmp_path, env)
    assert code == 2
    assert "datasource 'no-such-datasource' is not described" in log
