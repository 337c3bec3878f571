"""The model builder runs user source in a process without secrets, network or unbounded resources.

Each test starts the real builder (a subprocess importing TensorFlow); what the user code could
see is reported back through the error it raises, so the tests assert on what it saw.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from kafkaml.builder import (
    BuildLimitError,
    DisallowedModelError,
    build_as_job,
    build_isolated,
    namespaces_available,
)
from kafkaml.jobs import LocalLauncher
from kafkaml.model_source import ModelExecutionError, ModelSyntaxError
from kafkaml.toydata import TOY_MODEL_SOURCE
from kafkaml.weights import payload_size, serialize_weights

SECRET = "0x" + "5e" * 32


def test_a_good_model_builds_into_its_description() -> None:
    source = 'print("user output must not break the answer")\n' + TOY_MODEL_SOURCE
    built = build_isolated(source, input_shape=(8,), output_shape=(3,))
    assert built.parameters == 8 * 16 + 16 + 16 * 3 + 3
    assert (built.input_shape, built.output_shape) == ((8,), (3,))
    assert [(layer.class_name, layer.output_shape, layer.parameters) for layer in built.layers] == [
        ("Dense", (16,), 144), ("Dense", (3,), 51)]
    assert [spec.shape for spec in built.weights] == [(8, 16), (16,), (16, 3), (3,)]
    assert built.compile_config["loss"] == "sparse_categorical_crossentropy"
    zeros = [np.zeros(spec.shape, spec.dtype) for spec in built.weights]
    assert payload_size(built.weights) == len(serialize_weights(zeros))


def test_a_syntax_error_comes_back_with_its_line() -> None:
    with pytest.raises(ModelSyntaxError, match="line 3") as caught:
        build_isolated("import keras\n\nmodel = keras.Sequential([\n")
    assert caught.value.lineno == 3


def test_an_endless_loop_is_stopped_by_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(BuildLimitError, match="longer than 20 s|CPU time"):
        build_isolated("while True:\n    pass\n", timeout_s=20)
    assert time.monotonic() - started < 40


def test_a_memory_hog_fails_as_a_model_error() -> None:
    with pytest.raises(ModelExecutionError, match="MemoryError at line 1"):
        build_isolated("hog = bytearray(8 * 1024**3)\n", memory_mb=2048)


def test_the_environment_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETH_WALLET_KEY", SECRET)
    monkeypatch.setenv("KAFKAML_RUN_DIR", "/somewhere/secret")
    source = ('import os\nraise RuntimeError("env:" + os.environ.get("ETH_WALLET_KEY", "absent") + "|" + '
              '",".join(sorted(os.environ)))\n')
    with pytest.raises(ModelExecutionError) as caught:
        build_isolated(source)
    seen = str(caught.value)
    assert "env:absent|" in seen and SECRET not in seen
    names = set(seen.split("|", 1)[1].split(","))
    assert not {name for name in names if name.startswith(("ETH_", "KAFKAML_"))}, names


@pytest.mark.skipif(not namespaces_available(), reason="user/network/mount namespaces are unavailable here")
def test_hidden_files_and_the_network_are_out_of_reach(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "keys").mkdir(parents=True)
    key_file = run_dir / "keys" / "platform.key"
    key_file.write_text(SECRET)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    source = f'''
import os, socket
seen = []
try:
    seen.append("file:" + open({str(key_file)!r}).read())
except OSError as exc:
    seen.append("file:" + type(exc).__name__)
try:
    seen.append("listing:" + ",".join(os.listdir({str(run_dir)!r})))
except OSError as exc:
    seen.append("listing:" + type(exc).__name__)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    seen.append("net:connected")
except OSError as exc:
    seen.append("net:" + type(exc).__name__)
raise RuntimeError("|".join(seen))
'''
    try:
        with pytest.raises(ModelExecutionError) as caught:
            build_isolated(source, hidden_paths=[run_dir])
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    seen = str(caught.value)
    assert SECRET not in seen and "keys" not in seen.split("listing:")[1]
    assert "file:PermissionError" in seen or "file:FileNotFoundError" in seen
    assert "net:connected" not in seen and "net:" in seen
    assert key_file.read_text() == SECRET  # hidden from the builder, untouched for everyone else


def test_a_lambda_layer_is_refused_by_name() -> None:
    source = TOY_MODEL_SOURCE.replace('keras.layers.Dense(16, activation="relu"),',
                                      'keras.layers.Dense(16, activation="relu"),\n'
                                      '    keras.layers.Lambda(lambda t: t * 2, name="doubler"),')
    assert "Lambda" in source
    with pytest.raises(DisallowedModelError, match="'Lambda' .* at sequential/doubler is not allowed"):
        build_isolated(source)


def test_the_builder_runs_as_a_job_of_its_own(tmp_path: Path) -> None:
    """What a cluster does (a Job with no Secret but the source): here through the local launcher,
    the same code path; the answer is read from the job's log, the job and its secret deleted."""
    launcher = LocalLauncher(tmp_path / "run")
    built = build_as_job(launcher, "print('noise')\n" + TOY_MODEL_SOURCE, image="kafka-ml/worker:0.1.0",
                         service_account="kafka-ml-jobs", owner="test")
    assert built.parameters > 0 and built.layers[-1].class_name == "Dense"
    with pytest.raises(ModelSyntaxError) as caught:
        build_as_job(launcher, "x = (\n", image="kafka-ml/worker:0.1.0", service_account="s", owner="test")
    assert caught.value.lineno == 1
    with pytest.raises(DisallowedModelError, match="Lambda"):
        build_as_job(launcher, TOY_MODEL_SOURCE.replace("keras.Input(shape=(8,)),",
                                                        "keras.Input(shape=(8,)), keras.layers.Lambda(lambda x: x),"),
                     image="kafka-ml/worker:0.1.0", service_account="s", owner="test")
    assert launcher.status({}) == [] and not any((tmp_path / "run" / "secrets").iterdir())
