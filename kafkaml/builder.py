"""The model builder: the one process that runs a user's model source, and it holds no secret.

``python -m kafkaml.builder [SOURCE_FILE] [--input-shape JSON] [--output-shape JSON]`` reads the
source (a file, or stdin), builds it with :func:`kafkaml.model_source.build_model`, checks the
model against :mod:`kafkaml.architecture`'s allow-list and prints one JSON object on stdout:
the :class:`~kafkaml.architecture.BuiltModel` (Keras JSON architecture, compile configuration,
parameter count, shapes, layers, weight shapes), or ``{"error": {"type", "message", "lineno"}}``.
Everything downstream (the aggregator job that holds the training's key, the clients, the audit)
works from that JSON and never executes user code.

:func:`build_isolated` runs the builder as a subprocess the way a platform should:

* a **clean environment** (PATH, LANG, PYTHONPATH to find this package, TensorFlow's log level,
  HOME = the work directory): no ``ETH_*`` key, no ``KAFKAML_*`` setting reaches user code;
* a fresh temporary **work directory** as cwd;
* **resource limits** (address space, CPU seconds, file size, processes) and a wall-clock timeout
  after which the whole process group is killed;
* where ``unshare --user --map-root-user --net --mount`` works (detected once), new **user,
  network, mount and PID namespaces**: only a loopback interface that is down (no network), each
  of ``hidden_paths`` (e.g. the local run directory with the key files) covered by an empty
  tmpfs, a ``/proc`` showing only the builder, and user code running as an unmapped user in a
  nested user namespace, without the capabilities that could unmount the covers (they are
  locked to it anyway). Where namespaces are unavailable the build still runs with the clean
  environment and the limits, and a warning is logged once.

In a cluster the same module runs as a Kubernetes Job without Secrets and without a
service-account token; the namespaces are then the container's own.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafkaml.architecture import (
    ArchitectureError,
    BuiltModel,
    LayerInfo,
    check_architecture,
    check_compile_config,
)
from kafkaml.config import Setting, declare
from kafkaml.jobs import JobSpec, JobState, JobStatus, Launcher, Role, SecretFile
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.model_source import (
    CompileError,
    MissingModelError,
    ModelExecutionError,
    ModelSourceError,
    ModelSyntaxError,
    NotAKerasModelError,
    ShapeMismatchError,
    build_model,
)
from kafkaml.weights import weight_specs

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
#: Prefix of the answer's line in a builder job's log.
ANSWER_MARKER = "KAFKAML-BUILDER-ANSWER "
BUILDER = declare(
    "Model builder job",
    Setting("MODEL_SOURCE_FILE", "File with the user's model source (the builder job's one mounted Secret).",
            kind="path", default=None),
)
#: Address space of the builder: TensorFlow reserves ~1.5 GB of it at import.
DEFAULT_MEMORY_MB = 4096
#: Largest file the builder may write (its output and log are files in its work directory).
FILE_LIMIT_BYTES = 64 * 1024 * 1024
#: Processes and threads the build may add (TensorFlow starts a thread pool per core). The kernel
#: counts RLIMIT_NPROC over all tasks of the user, so the limit is set this far above their number.
PROCESS_LIMIT = 512
#: Largest source accepted: a model definition, not a data set.
MAX_SOURCE_BYTES = 1024 * 1024

#: prctl(2), to set the builder's parent-death signal (loaded here: not in the forked child).
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1

#: Runs inside the new namespaces as their root: covers each hidden path, then drops to an
#: unmapped user in a nested user namespace (no capabilities; the covers are locked) and execs.
_SANDBOX = """
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o size=4k,mode=000 kafkaml-hidden "$1"
  elif [ -e "$1" ]; then mount --bind /dev/null "$1"
  fi || exit 97  # _COVER_FAILED
  shift
done
shift
exec unshare --user --mount "$@"
"""
_COVER_FAILED = 97
_NAMESPACES = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--mount-proc",
               "--kill-child"]


class DisallowedModelError(ModelSourceError):
    """The model uses a class outside the allow-list (a ``Lambda`` layer, a custom object, ...)."""


class BuildLimitError(ModelSourceError):
    """The build exceeded its time, CPU, memory or file limit, or died without an answer."""


_ERRORS: dict[str, type[ModelSourceError]] = {cls.__name__: cls for cls in (
    ModelSyntaxError, ModelExecutionError, MissingModelError, NotAKerasModelError, ShapeMismatchError,
    CompileError, DisallowedModelError, ModelSourceError)}


# --- inside the builder process -----------------------------------------------------------------------


def describe(model: Any) -> BuiltModel:
    """The checked description of a compiled Keras model (DisallowedModelError outside the allow-list)."""
    if not isinstance(model.input_shape, tuple) or not isinstance(model.output_shape, tuple):
        raise DisallowedModelError("models with several inputs or outputs are not supported")
    try:
        architecture = model.to_json()
    except Exception as exc:  # e.g. a subclassed model, which Keras cannot describe as JSON
        raise DisallowedModelError(f"the model cannot be described as Keras JSON ({type(exc).__name__}: {exc}); "
                                   "define it with keras.Sequential or the functional API") from None
    try:
        check_architecture(architecture)
        compile_config = check_compile_config(model.get_compile_config() or {})
    except ArchitectureError as exc:
        raise DisallowedModelError(str(exc)) from None
    return BuiltModel(
        architecture=architecture, compile_config=compile_config, parameters=int(model.count_params()),
        input_shape=tuple(model.input_shape[1:]), output_shape=tuple(model.output_shape[1:]),
        layers=tuple(LayerInfo(layer.name, type(layer).__name__, _output_shape(layer), int(layer.count_params()))
                     for layer in model.layers),
        weights=weight_specs(model.get_weights()),
    )


def _output_shape(layer: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(layer.output.shape[1:])
    except (AttributeError, ValueError, RuntimeError, TypeError):  # e.g. a layer used at several places
        return None


def _error(exc: ModelSourceError) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__ if type(exc).__name__ in _ERRORS else "ModelSourceError",
                      "message": str(exc), "lineno": getattr(exc, "lineno", None)}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kafkaml.builder", description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", help="file with the model source (default: stdin)")
    parser.add_argument("--input-shape", type=json.loads, default=None, help="per-sample input shape, JSON list")
    parser.add_argument("--output-shape", type=json.loads, default=None, help="per-sample output shape, JSON list")
    args = parser.parse_args(argv)
    # As a job (the source mounted as MODEL_SOURCE_FILE) the answer is one marked line of the log,
    # which the launcher returns with the user's own output around it.
    job_source = BUILDER.load()["MODEL_SOURCE_FILE"] if not args.source else None
    # The answer goes to the original stdout; anything the user's code prints goes to stderr.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    source = Path(args.source or job_source).read_text() if (args.source or job_source) else sys.stdin.read()
    try:
        model = build_model(source, input_shape=args.input_shape, output_shape=args.output_shape)
        result = describe(model).to_json()
    except ModelSourceError as exc:
        result = json.dumps(_error(exc))
    answer.write(f"\n{ANSWER_MARKER}{result}\n" if job_source else result)
    answer.close()
    return 0


def build_as_job(launcher: Launcher, source: str, *, image: str, service_account: str, owner: str,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> BuiltModel:
    """Build ``source`` in a job of its own — in a cluster a Kubernetes Job with no Secret but the
    source, no service-account token and the pod's own isolation — and read its answer from the
    job's log. The same errors as :func:`build_isolated`; the job and its secret are deleted."""
    encoded = source.encode()
    if len(encoded) > MAX_SOURCE_BYTES:
        raise ModelSourceError(f"the model source is {len(encoded)} bytes, more than {MAX_SOURCE_BYTES} allowed")
    name = f"builder-{uuid.uuid4().hex[:12]}"
    launcher.put_secret(name, {"source.py": encoded}, {LABEL_JOB: name})
    try:
        launcher.launch(JobSpec(
            name=name, role=Role.BUILDER, owner=owner, training=name, image=image, module="kafkaml.builder",
            secret_files={"MODEL_SOURCE": SecretFile(name, "source.py", "/var/run/kafka-ml/source/source.py")},
            service_account=service_account, active_deadline_s=int(timeout_s) + 30,
        ))
        status = _wait_for_job(launcher, name, timeout_s + 60)
        output = launcher.logs({LABEL_JOB: name}, tail_lines=400).get(name, "")
    finally:
        launcher.stop({LABEL_JOB: name})
        launcher.delete_secret(name)
    answers = [line[len(ANSWER_MARKER):] for line in output.splitlines() if line.startswith(ANSWER_MARKER)]
    code = 0 if status.state == JobState.SUCCEEDED else (status.exit_code if status.exit_code is not None else 1)
    return _parse(answers[-1].encode() if answers else b"", code, output[-2000:], timeout_s, DEFAULT_MEMORY_MB)


def _wait_for_job(launcher: Launcher, name: str, timeout_s: float) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        statuses = launcher.status({LABEL_JOB: name})
        if statuses and statuses[0].state in (JobState.SUCCEEDED, JobState.FAILED):
            return statuses[0]
        if time.monotonic() > deadline:
            raise BuildLimitError(f"the builder job gave no answer within {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(2 * delay, 2.0)


# --- the parent's side ------------------------------------------------------------------------------


@functools.cache
def namespaces_available() -> bool:
    """Whether this machine lets an unprivileged process create the builder's namespaces."""
    if shutil.which("unshare") is None:
        available = False
    else:
        try:
            available = subprocess.run([*_NAMESPACES, "sh", "-c", _SANDBOX, "sandbox", "--", "true"],
                                       capture_output=True, timeout=30, env=_clean_env(Path("/"))).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            available = False
    if not available:
        log.warning("user/network/mount namespaces are unavailable here: model sources are built with a clean "
                    "environment and resource limits only (hidden paths stay readable, the network reachable)")
    return available


def build_isolated(source: str, *, input_shape: Sequence[int] | None = None,
                   output_shape: Sequence[int] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                   memory_mb: int = DEFAULT_MEMORY_MB, hidden_paths: Sequence[str | Path] = ()) -> BuiltModel:
    """Build ``source`` in a builder process without secrets (see the module docstring).

    Raises the :class:`~kafkaml.model_source.ModelSourceError` subclass the builder reported
    (with ``lineno`` where it has one), :class:`DisallowedModelError` for a class outside the
    allow-list, or :class:`BuildLimitError` when the build was killed or gave no answer.
    """
    encoded = source.encode()
    if len(encoded) > MAX_SOURCE_BYTES:
        raise ModelSourceError(f"the model source is {len(encoded)} bytes, more than {MAX_SOURCE_BYTES} allowed")
    command = [sys.executable, "-m", "kafkaml.builder", "--input-shape", json.dumps(_shape(input_shape)),
               "--output-shape", json.dumps(_shape(output_shape))]
    if namespaces_available():
        hidden = [str(Path(path).resolve()) for path in hidden_paths]
        command = [*_NAMESPACES, "sh", "-c", _SANDBOX, "sandbox", *hidden, "--", *command]
    with tempfile.TemporaryDirectory(prefix="kafkaml-build-") as directory:
        work = Path(directory)
        (work / "source.py").write_bytes(encoded)
        with open(work / "source.py", "rb") as stdin, open(work / "answer.json", "wb") as stdout, \
                open(work / "build.log", "wb") as stderr:
            process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=work,
                                       env=_clean_env(work), start_new_session=True,
                                       preexec_fn=functools.partial(_limit, timeout_s, memory_mb,
                                                                    _tasks_of_this_user() + PROCESS_LIMIT,
                                                                    os.getpid()))
            try:
                code = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise BuildLimitError(f"building the model took longer than {timeout_s:.0f} s and was stopped "
                                      "(an endless loop in the source?)") from None
        answer = (work / "answer.json").read_bytes()
        log_tail = (work / "build.log").read_bytes()[-2000:].decode(errors="replace")
    return _parse(answer, code, log_tail, timeout_s, memory_mb)


def _shape(shape: Sequence[int] | None) -> list[int] | None:
    return None if shape is None else [int(n) for n in shape]


def _clean_env(work: Path) -> dict[str, str]:
    """Only what Python and TensorFlow need to start; nothing of the caller's environment."""
    package_root = Path(__file__).resolve().parents[1]
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(package_root),
            "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(work), "PYTHONDONTWRITEBYTECODE": "1"}


def _tasks_of_this_user() -> int:
    """Processes and threads running under this user id (what RLIMIT_NPROC counts)."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:  # the process ended meanwhile
                continue
    return count


def _limit(cpu_s: float, memory_mb: int, processes: int, parent: int) -> None:
    """Resource limits of the builder, set in the child before it executes anything; and it dies
    with the thread that started it, so an API process killed mid-build leaves no build running
    (the build runs in a session of its own, which no signal to the API's process group reaches)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    cpu = max(1, int(cpu_s))
    for kind, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 5), (resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20),
                             (resource.RLIMIT_FSIZE, FILE_LIMIT_BYTES, FILE_LIMIT_BYTES),
                             (resource.RLIMIT_NPROC, processes, processes), (resource.RLIMIT_CORE, 0, 0)):
        ceiling = resource.getrlimit(kind)[1]  # an unprivileged process cannot raise its hard limit
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(kind, (soft, hard))


def _parse(answer: bytes, code: int, log_tail: str, timeout_s: float, memory_mb: int) -> BuiltModel:
    if code == _COVER_FAILED:
        raise BuildLimitError(f"the builder could not hide the secret paths; last output:\n{log_tail}")
    if code < 0 or not answer:
        cause = {signal.SIGXCPU: f"its CPU time limit ({timeout_s:.0f} s)",
                 signal.SIGKILL: f"a limit (CPU {timeout_s:.0f} s, memory {memory_mb} MB)",
                 signal.SIGXFSZ: f"its file size limit ({FILE_LIMIT_BYTES >> 20} MB)"}.get(-code) if code < 0 else None
        how = f"was killed by {signal.Signals(-code).name} ({cause or 'a signal'})" if code < 0 \
            else f"exited with code {code} without an answer"
        raise BuildLimitError(f"building the model {how}; last output:\n{log_tail}")
    try:
        data = json.loads(answer)
        error = data.get("error") if isinstance(data, dict) else None
    except ValueError:
        raise BuildLimitError(f"the builder's answer is not JSON; last output:\n{log_tail}") from None
    if error is not None:
        kind = _ERRORS.get(str(error.get("type")), ModelSourceError)
        message = str(error.get("message"))
        if issubclass(kind, ModelSyntaxError | ModelExecutionError):
            lineno = error.get("lineno")
            raise kind(message, lineno if isinstance(lineno, int) else None)
        raise kind(message)
    try:
        return BuiltModel.from_json(answer)
    except ArchitectureError as exc:
        raise DisallowedModelError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
