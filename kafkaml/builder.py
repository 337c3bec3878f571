"""The model builder: the one process that runs a user's model source, and it holds no secret.

``python -m kafkaml.builder [SOURCE_FILE] [--input-shape JSON] [--output-shape JSON]`` reads the
source (a file, or stdin), builds it with :func:`kafkaml.model_source.build_model`, checks the
model against :mod:`kafkaml.architecture`'s allow-list and prints one JSON object on stdout:
the :class:`~kafkaml.architecture.BuiltModel` (Keras JSON architecture, compile configuration,
parameter count, shapes, layers, weight shapes), or ``{"error": {"type", "message", "lineno"}}``.
Everything downstream (the aggregator job that holds the training's key, the clients, the audit)
works from that JSON and never executes user code.

:func:`build` is how the platform builds a source: in a cluster as a Job of its own
(:func:`build_as_job`), else here with :func:`build_isolated`, which runs the builder

* in the **sandbox** of :mod:`kafkaml.sandbox` (a read-only view of the system, the Python
  installation and this package; a scratch tmpfs its only writable place; no host socket, no
  network; an unprivileged uid without capabilities) when ``BUILDER_SANDBOX=required``, the
  default. A machine that cannot create the sandbox (no unprivileged user namespaces) refuses
  every build with :class:`BuilderUnavailableError`, naming the setting: it fails closed.
  ``BUILDER_SANDBOX=off`` is the operator's explicit choice to build in a plain process, which
  can read and write whatever the platform's user can;
* with a **clean environment** (PATH, LANG, PYTHONPATH to find this package, TensorFlow's log
  level, HOME = the scratch directory): no ``ETH_*`` key, no ``KAFKAML_*`` setting reaches user code;
* under **resource limits** (address space, CPU seconds, file size, processes) and a wall-clock
  timeout after which the whole process group is killed.

In the sandbox a build is a fork of the **warm builder** (:mod:`kafkaml.warm_builder`), a process
of this user's that has imported TensorFlow once and holds nothing else (the clean environment
above): the fork enters the same sandbox, under the same limits, before it reads the source, and
saves the 5 to 7 s of processor time a fresh interpreter spends importing TensorFlow. Where the
warm builder cannot be used the build starts a fresh interpreter, as before (``warm=False``
asks for that).

The answer comes from a process that ran user code, which may forge it; so it is read bounded
and checked again here, against the platform's size limits too (``MODEL_MAX_PARAMETERS``,
``MODEL_MAX_TENSOR_PARAMETERS``; :func:`kafkaml.architecture.check_size` computes the weights
from the JSON, so a forged giant layer is refused before anything allocates it).

In a cluster the builder Job's pod is the sandbox: no Secret but the source, no service-account
token, a non-root user without capabilities on a read-only root filesystem (``/tmp`` its only
writable place) and a NetworkPolicy that lets nothing in or out (``kafka-ml-builder-isolated``).
``BUILDER_SANDBOX`` does not apply there: a pod cannot create namespaces, and its isolation is
not optional.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkaml import sandbox, warm_builder
from kafkaml.architecture import (
    MAX_DESCRIPTION_BYTES,
    ArchitectureError,
    BuiltModel,
    LayerInfo,
    SizeLimits,
    check_architecture,
    check_compile_config,
    check_size,
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
from kafkaml.weights.codec import weight_specs

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
#: Prefix of the answer's line in a builder job's log.
ANSWER_MARKER = "KAFKAML-BUILDER-ANSWER "
BUILDER = declare(
    "Model builder job",
    Setting("MODEL_SOURCE_FILE", "File with the user's model source (the builder job's one mounted Secret).",
            kind="path", default=None),
)
SANDBOX_REQUIRED, SANDBOX_OFF = "required", "off"
PLATFORM_BUILDS = declare(
    "Model builder (platform)",
    Setting("BUILDER_SANDBOX", "How a platform that builds model sources on its own machine (JOB_LAUNCHER=local, "
            "`kafkaml train`) runs them. required: only in the sandbox of kafkaml.sandbox (a read-only view without "
            "keys, host sockets or network, as an unprivileged uid); where the machine cannot create it (no "
            "unprivileged user namespaces) every build is refused. off: in a plain process with a clean environment "
            "and resource limits, which can read and write whatever the platform's user can (its keys included): "
            "only for a machine that builds its own operator's code. Builder Jobs in a cluster are isolated by "
            "their pod and do not read it.", default=SANDBOX_REQUIRED, choices=(SANDBOX_REQUIRED, SANDBOX_OFF)),
    Setting("MODEL_MAX_PARAMETERS", "Most parameters (weight elements) a model may have: as the builder declares "
            "them and as its architecture would allocate them when rebuilt (computed from the JSON).",
            kind="int", default=50_000_000, minimum=1),
    Setting("MODEL_MAX_TENSOR_PARAMETERS", "Most elements one weight tensor of a model may have.",
            kind="int", default=25_000_000, minimum=1),
)
#: Address space of the builder: TensorFlow reserves ~1.5 GB of it at import.
DEFAULT_MEMORY_MB = 4096
#: Largest source accepted: a model definition, not a data set.
MAX_SOURCE_BYTES = 1024 * 1024

#: prctl(2), to set the builder's parent-death signal (loaded here: not in the forked child).
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class DisallowedModelError(ModelSourceError):
    """The model uses a class outside the allow-list (a ``Lambda`` layer, a custom object, ...)."""


class BuildLimitError(ModelSourceError):
    """The build exceeded its time, CPU, memory or file limit, or died without an answer."""


class BuilderUnavailableError(RuntimeError):
    """The platform cannot build safely (its sandbox is required but cannot be created or set up):
    not the source's fault, and nothing of it ran."""


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


@dataclass(frozen=True)
class BuilderJobs:
    """Where a cluster runs builder Jobs (``JOB_LAUNCHER=kubernetes``): their pod is the sandbox."""

    launcher: Launcher
    image: str
    service_account: str
    owner: str


def build(source: str, *, jobs: BuilderJobs | None = None, hidden_paths: Sequence[str | Path] = ()) -> BuiltModel:
    """The platform's description of a user's ``source``: built by a Job of its own where ``jobs``
    is given (a cluster), else on this machine by :func:`build_isolated` (``hidden_paths`` are
    covered should they fall inside the sandbox's view).

    Raises a :class:`~kafkaml.model_source.ModelSourceError` when the source is at fault (its
    message, and ``lineno`` where there is one, are for the user: e.g. a syntax error, a class
    outside the allow-list, a model over the size limits, a build over its time or memory),
    :class:`BuilderUnavailableError` when the platform cannot build safely, and
    :class:`~kafkaml.config.ConfigError` for an invalid builder setting.
    """
    if jobs is not None:
        return build_as_job(jobs.launcher, source, image=jobs.image, service_account=jobs.service_account,
                            owner=jobs.owner)
    return build_isolated(source, hidden_paths=hidden_paths)


def build_as_job(launcher: Launcher, source: str, *, image: str, service_account: str, owner: str,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> BuiltModel:
    """Build ``source`` in a job of its own — in a cluster a Kubernetes Job with no Secret but the
    source, no service-account token and the pod's own isolation — and read its answer from the
    job's log. The same errors as :func:`build_isolated`; the job and its secret are deleted.
    (The local launcher's jobs are plain processes: that runs this code path, not a sandbox.)"""
    limits = size_limits()
    encoded = _bounded_source(source)
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
    return _parse(answers[-1].encode() if answers else b"", code, output[-2000:], timeout_s, DEFAULT_MEMORY_MB,
                  limits)


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


def size_limits() -> SizeLimits:
    """The platform's limits on a model's size (MODEL_MAX_PARAMETERS, MODEL_MAX_TENSOR_PARAMETERS)."""
    values = PLATFORM_BUILDS.load()
    return SizeLimits(parameters=values["MODEL_MAX_PARAMETERS"], tensor=values["MODEL_MAX_TENSOR_PARAMETERS"])


def sandbox_problem() -> str | None:
    """Why this machine cannot create the builder's sandbox (None: it can), learnt by running Python
    in it the way a build does; a success is remembered, a failure probed again at the next build."""
    try:
        _probe_sandbox()
    except BuilderUnavailableError as exc:
        return str(exc)
    return None


def build_refusal() -> str | None:
    """Why this machine refuses to build model sources (BUILDER_SANDBOX=required and no sandbox can
    be created), naming what to change; None when it builds. Callers that queue builds ask first."""
    if PLATFORM_BUILDS.load()["BUILDER_SANDBOX"] != SANDBOX_REQUIRED:
        return None
    problem = sandbox_problem()
    if problem is None:
        return None
    return (f"model builds are refused: BUILDER_SANDBOX=required, but this machine cannot create the builder's "
            f"sandbox ({problem}). Allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0, and "
            "kernel.unprivileged_userns_clone=1 or kernel.apparmor_restrict_unprivileged_userns=0 where those "
            "exist), or set BUILDER_SANDBOX=off to build without it: user code then runs as the platform's "
            "user, beside its keys")


@functools.cache  # caches the success only: a call that raises is not remembered
def _probe_sandbox() -> None:
    probe = [sys.executable, "-m", "kafkaml.sandbox", "--", sys.executable, "-c", "import kafkaml"]
    with tempfile.TemporaryDirectory(prefix="kafkaml-probe-") as directory:
        try:
            result = subprocess.run(probe, capture_output=True, timeout=60, cwd=directory,
                                    env=_clean_env(Path(sandbox.SCRATCH)))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuilderUnavailableError(f"the sandbox did not start: {exc}") from None
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise BuilderUnavailableError(lines[-1] if lines else f"the sandbox exited with code {result.returncode}")


def build_isolated(source: str, *, input_shape: Sequence[int] | None = None,
                   output_shape: Sequence[int] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                   memory_mb: int = DEFAULT_MEMORY_MB, hidden_paths: Sequence[str | Path] = (),
                   warm: bool = True) -> BuiltModel:
    """Build ``source`` in a builder process on this machine (see the module docstring): in the
    sandbox, a fork of the warm builder (:mod:`kafkaml.warm_builder`) where one can be used and
    ``warm`` (the default), else a fresh interpreter.

    Raises the :class:`~kafkaml.model_source.ModelSourceError` subclass the builder reported
    (with ``lineno`` where it has one), :class:`DisallowedModelError` for a class outside the
    allow-list or a model over the size limits, :class:`BuildLimitError` when the build was
    killed or gave no answer, and :class:`BuilderUnavailableError` when ``BUILDER_SANDBOX`` is
    ``required`` and the sandbox cannot be created (nothing runs then).
    """
    settings = PLATFORM_BUILDS.load()
    limits = size_limits()
    encoded = _bounded_source(source)
    arguments = ["--input-shape", json.dumps(_shape(input_shape)), "--output-shape", json.dumps(_shape(output_shape))]
    command = [sys.executable, "-m", "kafkaml.builder", *arguments]
    sandboxed = settings["BUILDER_SANDBOX"] == SANDBOX_REQUIRED
    hidden = [str(Path(path).resolve()) for path in hidden_paths]
    if sandboxed:
        refusal = build_refusal()
        if refusal is not None:
            raise BuilderUnavailableError(refusal)
        command = [sys.executable, "-m", "kafkaml.sandbox", *(f"--hide={path}" for path in hidden), "--", *command]
    else:
        _warn_unsandboxed()
    with tempfile.TemporaryDirectory(prefix="kafkaml-build-") as directory:
        work = Path(directory)
        (work / "source.py").write_bytes(encoded)
        with open(work / "source.py", "rb") as stdin, open(work / "answer.json", "wb") as stdout, \
                open(work / "build.log", "wb") as stderr:
            code = None
            if sandboxed and warm:
                code = _build_warm(work, (stdin, stdout, stderr), _shape(input_shape), _shape(output_shape),
                                   hidden, timeout_s, memory_mb, _clean_env(Path(sandbox.SCRATCH)))
            if code is None:
                code = _build_fresh(command, work, (stdin, stdout, stderr), timeout_s, memory_mb,
                                    _clean_env(Path(sandbox.SCRATCH) if sandboxed else work))
        with open(work / "answer.json", "rb") as answer_file:
            answer = answer_file.read(MAX_DESCRIPTION_BYTES + 1)  # from_json refuses anything longer
        log_tail = (work / "build.log").read_bytes()[-2000:].decode(errors="replace")
    if sandboxed and code == sandbox.SETUP_FAILED and not answer:
        raise BuilderUnavailableError(f"the builder's sandbox could not be set up; last output:\n{log_tail}")
    return _parse(answer, code, log_tail, timeout_s, memory_mb, limits)


def _build_fresh(command: list[str], work: Path, stdio: tuple, timeout_s: float, memory_mb: int,
                 environment: dict[str, str]) -> int:
    """Run the builder as a new interpreter (in the sandbox when ``command`` starts it); its exit code."""
    stdin, stdout, stderr = stdio
    process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=work, env=environment,
                               start_new_session=True,
                               preexec_fn=functools.partial(_limit, timeout_s, memory_mb,
                                                            sandbox.tasks_of_this_user() + sandbox.PROCESS_LIMIT, os.getpid()))
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise _timed_out(timeout_s) from None


def _build_warm(work: Path, stdio: tuple, input_shape: list[int] | None, output_shape: list[int] | None,
                hidden: list[str], timeout_s: float, memory_mb: int, environment: dict[str, str]) -> int | None:
    """Run the builder in a fork of the warm builder, in the same sandbox; its exit code, or None
    when the warm builder did not take the build (nothing of the source ran: build it fresh)."""
    directory = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return warm_builder.run(work=directory, stdio=[stream.fileno() for stream in stdio], input_shape=input_shape,
                                output_shape=output_shape, hidden=hidden, cpu_s=timeout_s, memory_mb=memory_mb,
                                environment=environment, timeout_s=timeout_s)
    except warm_builder.Unavailable as exc:
        log.warning("building in a fresh process: %s", exc)
        return None
    except TimeoutError:
        raise _timed_out(timeout_s) from None
    except warm_builder.Lost as exc:
        raise BuildLimitError(f"building the model failed: {exc}") from None
    finally:
        os.close(directory)


def _timed_out(timeout_s: float) -> BuildLimitError:
    return BuildLimitError(f"building the model took longer than {timeout_s:.0f} s and was stopped "
                           "(an endless loop in the source?)")


@functools.cache
def _warn_unsandboxed() -> None:
    log.warning("BUILDER_SANDBOX=off: model sources are built without the sandbox, with a clean environment and "
                "resource limits only (user code can read and write whatever this user can)")


def _bounded_source(source: str) -> bytes:
    encoded = source.encode()
    if len(encoded) > MAX_SOURCE_BYTES:
        raise ModelSourceError(f"the model source is {len(encoded)} bytes, more than {MAX_SOURCE_BYTES} allowed")
    return encoded


def _shape(shape: Sequence[int] | None) -> list[int] | None:
    return None if shape is None else [int(n) for n in shape]


def _clean_env(home: Path) -> dict[str, str]:
    """Only what Python and TensorFlow need to start; nothing of the caller's environment."""
    package_root = Path(__file__).resolve().parents[1]
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(package_root),
            "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}


def _limit(cpu_s: float, memory_mb: int, processes: int, parent: int) -> None:
    """Resource limits of the builder, set in the child before it executes anything; and it dies
    with the thread that started it, so an API process killed mid-build leaves no build running
    (the build runs in a session of its own, which no signal to the API's process group reaches).
    (A warm build's process is not the caller's child: it watches the caller's connection instead.)"""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    sandbox.set_limits(cpu_s, memory_mb, processes)


def _parse(answer: bytes, code: int, log_tail: str, timeout_s: float, memory_mb: int,
           limits: SizeLimits) -> BuiltModel:
    """The builder's answer, trusted for nothing: bounded, parsed, allow-listed and held to ``limits``."""
    if code < 0 or not answer:
        cause = {signal.SIGXCPU: f"its CPU time limit ({timeout_s:.0f} s)",
                 signal.SIGKILL: f"a limit (CPU {timeout_s:.0f} s, memory {memory_mb} MB)",
                 signal.SIGXFSZ: f"its file size limit ({sandbox.FILE_LIMIT_BYTES >> 20} MB)"}.get(-code) if code < 0 else None
        how = f"was killed by {signal.Signals(-code).name} ({cause or 'a signal'})" if code < 0 \
            else f"exited with code {code} without an answer"
        raise BuildLimitError(f"building the model {how}; last output:\n{log_tail}")
    if len(answer) > MAX_DESCRIPTION_BYTES:
        raise DisallowedModelError(f"the builder's answer is longer than the {MAX_DESCRIPTION_BYTES} bytes allowed")
    try:
        data = json.loads(answer)
        error = data.get("error") if isinstance(data, dict) else None
    except (ValueError, RecursionError):
        raise BuildLimitError(f"the builder's answer is not JSON; last output:\n{log_tail}") from None
    if error is not None:
        error = error if isinstance(error, dict) else {}
        kind = _ERRORS.get(str(error.get("type")), ModelSourceError)
        message = str(error.get("message"))
        if issubclass(kind, ModelSyntaxError | ModelExecutionError):
            lineno = error.get("lineno")
            raise kind(message, lineno if isinstance(lineno, int) else None)
        raise kind(message)
    try:
        built = BuiltModel.from_json(answer)
        check_size(built, limits)
    except ArchitectureError as exc:
        raise DisallowedModelError(str(exc)) from None
    return built


if __name__ == "__main__":
    sys.exit(main())
