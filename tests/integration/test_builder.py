"""The model builder runs user source in a process without secrets, network or unbounded resources.

Each test starts the real builder (a subprocess importing TensorFlow); what the user code could
see is reported back through the error it raises, so the tests assert on what it saw. The tests
of the sandbox fail where it cannot be created, unless ``BUILDER_SANDBOX=off`` in the
environment declares that this machine has no user namespaces (then they are skipped, saying so).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import kafkaml
from kafkaml.builder import (
    BuildLimitError,
    DisallowedModelError,
    build_as_job,
    build_isolated,
)
from kafkaml.jobs import LocalLauncher
from kafkaml.model_source import ModelExecutionError, ModelSyntaxError
from kafkaml.toydata import TOY_MODEL_SOURCE
from kafkaml.weights.codec import payload_size, serialize_weights
from tests.conftest import require_the_sandbox, without_user_namespaces

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
    # A short timeout: the loop burns a whole core for as long as it is allowed to run.
    started = time.monotonic()
    with pytest.raises(BuildLimitError, match="longer than 3 s|CPU time"):
        build_isolated("while True:\n    pass\n", timeout_s=3)
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


def test_hidden_files_and_the_network_are_out_of_reach(tmp_path: Path) -> None:
    require_the_sandbox()
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
seen.append("passwd:" + str(len(open("/etc/passwd").read())))
raise RuntimeError("|".join(seen))
'''
    try:
        with pytest.raises(ModelExecutionError) as caught:
            build_isolated(source, hidden_paths=[run_dir, "/etc/passwd"])  # the latter is in the sandbox's view
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    seen = str(caught.value)
    assert SECRET not in seen and "keys" not in seen.split("listing:")[1]
    assert "file:PermissionError" in seen or "file:FileNotFoundError" in seen
    assert "net:connected" not in seen and "net:" in seen
    assert "passwd:0" in seen, "a hidden path inside the view is covered"
    assert key_file.read_text() == SECRET  # hidden from the builder, untouched for everyone else


def test_the_sandbox_cannot_write_the_installation_or_reach_a_socket(tmp_path: Path) -> None:
    """User code in the sandbox tries what a planted backdoor needs: append to a file of the
    installed package, add a module to the virtualenv, reach the platform through a Unix socket
    (one on the filesystem, one abstract), or escape through a user namespace of its own."""
    require_the_sandbox()
    package_file = Path(kafkaml.__file__).resolve()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    planted = site_packages / f"planted_{uuid.uuid4().hex[:8]}.py"
    before = package_file.read_bytes()
    path_socket = socket.socket(socket.AF_UNIX)
    path_socket.bind(str(tmp_path / "platform.sock"))
    abstract_socket = socket.socket(socket.AF_UNIX)
    abstract_name = f"\0kafkaml-test-{uuid.uuid4().hex}"
    abstract_socket.bind(abstract_name)
    for listener in (path_socket, abstract_socket):
        listener.listen()
        listener.setblocking(False)
    source = f'''
import ctypes, os, socket
seen = []
def attempt(name, action):
    try:
        action()
        seen.append(name + ":done")
    except OSError as exc:
        seen.append(name + ":" + type(exc).__name__)
def append_package():
    with open({str(package_file)!r}, "a") as handle:
        handle.write("import this  # planted")
def plant_module():
    open({str(planted)!r}, "w").close()
def connect(address):
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(3)
    client.connect(address)
def write_scratch():
    with open("scratch.txt", "w") as handle:
        handle.write("scratch")
def new_user_namespace():
    if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
attempt("package", append_package)
attempt("virtualenv", plant_module)
attempt("socket", lambda: connect({str(tmp_path / "platform.sock")!r}))
attempt("abstract", lambda: connect({abstract_name!r}))
attempt("scratch", write_scratch)
attempt("userns", new_user_namespace)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
seen.append("uid:" + str(os.getuid()) + " caps:" + status["CapEff"].strip())
seen.append("root:" + ",".join(sorted(os.listdir("/"))))
raise RuntimeError("|".join(seen))
'''
    try:
        with pytest.raises(ModelExecutionError) as caught:
            build_isolated(source)
        for listener in (path_socket, abstract_socket):
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        path_socket.close()
        abstract_socket.close()
    seen = dict(item.split(":", 1) for item in str(caught.value).split(": ", 1)[1].split("|"))
    assert seen["package"] in ("PermissionError", "OSError") and package_file.read_bytes() == before
    assert seen["virtualenv"] in ("PermissionError", "OSError") and not planted.exists()
    assert seen["socket"] == "FileNotFoundError", "no socket of the host is in the sandbox's view"
    assert seen["abstract"] == "ConnectionRefusedError", "abstract sockets belong to the network namespace"
    assert seen["scratch"] == "done", "the scratch directory is writable (so the refusals above are not a fluke)"
    assert seen["userns"] == "OSError"
    assert seen["uid"] == "65534 caps:0000000000000000"
    assert not {"home", "run", "var", "srv"} & set(seen["root"].split(","))


def test_a_forged_answer_describing_a_giant_layer_is_refused() -> None:
    """User code writes the builder's answer itself (it shares the builder's process) and
    describes a 10^6 x 10^6 Dense, 4 TB of weights, while declaring the small model's weights.
    The parent computes the sizes from the JSON and refuses it; nothing builds or allocates it."""
    source = '''
import json, os
from kafkaml.builder import describe
model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16), keras.layers.Dense(3)])
model.compile(loss="mse")
description = json.loads(describe(model).to_json())
architecture = json.loads(description["architecture"])
giant = [layer for layer in architecture["config"]["layers"] if layer["class_name"] == "Dense"][0]
giant["config"]["units"] = 10**6
giant["build_config"]["input_shape"] = [None, 10**6]
description["architecture"] = json.dumps(architecture)
answer = [fd for fd in range(3, 64) if os.path.exists(f"/proc/self/fd/{fd}")
          and os.readlink(f"/proc/self/fd/{fd}").endswith("answer.json")][0]
os.write(answer, json.dumps(description).encode())
os._exit(0)
'''
    with pytest.raises(DisallowedModelError, match=r"shape \[1000000, 1000000\] \(1000000000000 parameters\), "
                                                   r"more than the 25000000 per tensor"):
        build_isolated(source)


REFUSAL_CHECK = """
from kafkaml.builder import BuilderUnavailableError, build_isolated
from kafkaml.toydata import TOY_MODEL_SOURCE
try:
    print("built:", build_isolated(TOY_MODEL_SOURCE).parameters)
except BuilderUnavailableError as exc:
    print("refused:", exc)
"""


def test_without_user_namespaces_builds_are_refused_unless_the_operator_opts_out() -> None:
    """The real probe on a machine without user namespaces (see ``without_user_namespaces``)."""
    command = without_user_namespaces([sys.executable, "-c", REFUSAL_CHECK])

    def run(setting: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "BUILDER_SANDBOX": setting})
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    refused = run("required")
    assert refused.startswith("refused: model builds are refused: BUILDER_SANDBOX=required, but this machine cannot "
                              "create the builder's sandbox"), refused
    assert "set BUILDER_SANDBOX=off to build without it" in refused
    assert run("off") == "built: 195\n", "the explicit opt-out builds without the sandbox"


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
