"""Model builds in the background: a bounded pool in each API process, the model's row as the truth.

A build runs the user's source in the secret-free builder (a TensorFlow process, seconds, up to
its time limit; in a cluster a builder Job). Inside a request it held an API worker thread for
all that time, so as many slow builds as the API has threads stalled every user. Now saving a
source stores the model as ``building`` and answers at once; each API process runs a dispatcher
thread that claims queued builds and runs them in a pool of its own.

gunicorn runs several processes and may kill one mid-build, so nothing a build needs lives only
in a process's memory:

* the queue, the limits and the outcome are the model rows. A queued build has no heartbeat; a
  claim sets it, the claiming process renews it every TICK_S, the outcome clears it. Admissions
  and claims happen under one lock (:func:`lock`), so a user has at most MODEL_BUILDS_PER_USER
  builds in flight (one more is a 429) and the platform runs at most MODEL_BUILDS_MAX at once.
* a build whose heartbeat stopped for MODEL_BUILD_STALE_S (its process died) is found by any process's
  dispatcher: its builder Job and Secret are deleted (their names were written on the row before
  either was created: :class:`RecordingLauncher`), then it is queued again, or failed once it has
  been started MAX_ATTEMPTS times. Never ``building`` for ever.
* ``build_attempts`` fences a build: only the attempt the row names may record an outcome or
  create a Job, so a process given up on cannot overwrite what its successor did.
* locally the builder process dies with the thread that started it (``kafkaml.builder`` sets
  its parent-death signal), so a killed API worker leaves nothing running.
"""

from __future__ import annotations

import ast
import functools
import logging
import operator
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from backend.api.environment import build_limits, platform_settings
from backend.api.errors import TooManyBuilds
from backend.api.models import MLModel
from backend.api.services import jobs
from kafkaml.architecture import BuiltModel
from kafkaml.builder import BuilderJobs, BuilderUnavailableError, build, build_refusal
from kafkaml.jobs import JobError, JobHandle, JobSpec, JobStatus, Launcher
from kafkaml.jobs.spec import LABEL_JOB
from kafkaml.model_source import ModelSourceError

log = logging.getLogger(__name__)

#: How often a process renews the heartbeats of its builds and looks for work.
TICK_S = 1.0
#: Starts of one build (its process died each time) before it is failed instead of queued again.
MAX_ATTEMPTS = 2
#: pg_advisory_xact_lock key of build admissions and claims ("kmlbuild").
LOCK_KEY = 0x6B6D6C6275696C64
BUILDING = MLModel.Status.BUILDING
#: What a (re)build clears: the description belongs to the source it was built from.
UNBUILT = {"status": BUILDING, "error": "", "line": None, "description_json": "", "parameters": None,
           "input_shape": None, "output_shape": None, "layers": [], "build_attempts": 0, "build_heartbeat": None,
           "build_job": "", "build_secret": ""}


def lock() -> None:
    """Serialise build admissions and claims of every API process until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the transaction itself, which began
    IMMEDIATE, holding the database's write lock (``kafkaml.services.settings.database``)."""
    assert connection.in_atomic_block, "lock() holds until the transaction ends: call it inside one"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def admit(owner: Any) -> None:
    """Under :func:`lock`: a 429 when ``owner`` has MODEL_BUILDS_PER_USER builds in flight."""
    allowed = build_limits().per_user
    in_flight = MLModel.objects.filter(owner=owner, status=BUILDING).count()
    if in_flight >= allowed:
        raise TooManyBuilds(f"you have {in_flight} model build(s) in flight, the most allowed "
                            f"(MODEL_BUILDS_PER_USER={allowed}); save this one when one of them is ready or failed")


def queue(model: MLModel) -> list[str]:
    """Mark ``model`` (not saved yet) to be built from its source; the fields to save."""
    for name, value in UNBUILT.items():
        setattr(model, name, value)
    return list(UNBUILT)


def source_line_error(source: str) -> tuple[str, int | None] | None:
    """The syntax error of ``source`` and its line, found without executing anything (``ast.parse``)."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"syntax error in the model source, line {exc.lineno}: {exc.msg}", exc.lineno
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return f"the model source cannot be parsed: {type(exc).__name__}", None
    return None


class RecordingLauncher(Launcher):
    """The platform's launcher as one build uses it: the name of each Secret and Job is written on
    the model's row before it is created, so that whoever finds the build abandoned can delete
    them; and a build given up on (its attempt is no longer the row's) creates nothing."""

    def __init__(self, launcher: Launcher, pk: int, attempt: int) -> None:
        self.launcher, self.pk, self.attempt = launcher, pk, attempt

    def _record(self, **names: str) -> None:
        claimed = MLModel.objects.filter(pk=self.pk, status=BUILDING, build_attempts=self.attempt,
                                         build_heartbeat__isnull=False)
        if not claimed.update(**names):
            raise JobError(f"model {self.pk}: this build was given up on; nothing more is started for it")

    def put_secret(self, name: str, files: Mapping[str, bytes], labels: Mapping[str, str]) -> None:
        self._record(build_secret=name)
        self.launcher.put_secret(name, files, labels)

    def launch(self, spec: JobSpec) -> JobHandle:
        self._record(build_job=spec.name)
        return self.launcher.launch(spec)

    def status(self, selector: Mapping[str, str]) -> list[JobStatus]:
        return self.launcher.status(selector)

    def logs(self, selector: Mapping[str, str], tail_lines: int = 100) -> dict[str, str]:
        return self.launcher.logs(selector, tail_lines)

    def stop(self, selector: Mapping[str, str]) -> list[str]:
        return self.launcher.stop(selector)

    def read_secret(self, name: str, key: str) -> bytes | None:
        return self.launcher.read_secret(name, key)

    def delete_secret(self, name: str) -> None:
        self.launcher.delete_secret(name)


def refusal() -> str | None:
    """Why this platform refuses to build now (locally: its required sandbox cannot be created), or
    None; asked when a source is saved, so that the user hears it at once (503)."""
    return None if platform_settings().jobs_in_containers else build_refusal()


def build_outcome(pk: int, attempt: int, source: str) -> dict[str, Any]:
    """Run the builder on ``source``; the fields that record its outcome (ready or failed)."""
    settings = platform_settings()
    # A container cannot make the sandbox's namespaces: there each build is a job of its own.
    builder_jobs = BuilderJobs(RecordingLauncher(jobs.launcher(), pk, attempt), settings.job_image,
                               settings.job_service_account, jobs.OWNER) if settings.jobs_in_containers else None
    try:
        built = build(source, jobs=builder_jobs, hidden_paths=[settings.run_dir])
    except ModelSourceError as exc:
        return {"status": MLModel.Status.FAILED, "error": str(exc), "line": getattr(exc, "lineno", None)}
    except (BuilderUnavailableError, JobError) as exc:  # not the source's fault
        return {"status": MLModel.Status.FAILED, "error": f"the platform could not build the model: {exc}",
                "line": None}
    return described(built)


def described(built: BuiltModel) -> dict[str, Any]:
    return {"status": MLModel.Status.READY, "error": "", "line": None, "description_json": built.to_json(),
            "parameters": built.parameters, "input_shape": list(built.input_shape),
            "output_shape": list(built.output_shape),
            "layers": [{"name": layer.name, "class": layer.class_name, "parameters": layer.parameters,
                        "output_shape": None if layer.output_shape is None else list(layer.output_shape)}
                       for layer in built.layers]}


def clean_up(job: str, secret: str) -> None:
    """Delete an abandoned build's builder Job and Secret (nothing when it had none: a local build)."""
    if job or secret:
        launcher = jobs.launcher()
        if job:
            launcher.stop({LABEL_JOB: job})
        if secret:
            launcher.delete_secret(secret)


class Dispatcher:
    """This process's share of the builds: claims queued ones while the platform has room, runs
    them in its pool, renews their heartbeats, and takes over the builds of processes that died."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pool = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="model-build")
        self.mine: dict[int, int] = {}  # model id → the attempt this process runs
        self.mine_lock = threading.Lock()
        self.wake = threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait(TICK_S)
            self.wake.clear()
            close_old_connections()
            try:
                self.tick()
            except Exception:  # a database hiccup must not end the builds of this process
                log.exception("model build dispatcher: this round failed; trying again")

    def tick(self) -> None:
        with self.mine_lock:
            mine = dict(self.mine)
        if not mine and not MLModel.objects.filter(status=BUILDING).exists():
            return
        now = timezone.now()
        if mine:
            MLModel.objects.filter(_attempts(mine), status=BUILDING).update(build_heartbeat=now)
        self.recover(now, mine)
        for pk, attempt, source in self.claim(now, len(mine)):
            with self.mine_lock:
                self.mine[pk] = attempt
            self.pool.submit(self.run_build, pk, attempt, source)

    def recover(self, now: datetime, mine: Mapping[int, int]) -> None:
        """Builds whose process died: their Job and Secret deleted, then queued again or failed."""
        stale = MLModel.objects.filter(status=BUILDING, build_heartbeat__lt=now - timedelta(seconds=build_limits().stale_s))
        stale = stale.exclude(pk__in=list(mine))  # late heartbeats of this very process's builds
        for pk, attempt, heartbeat, job, secret in stale.values_list(
                "pk", "build_attempts", "build_heartbeat", "build_job", "build_secret"):
            try:
                clean_up(job, secret)
            except JobError as exc:  # the launcher's API is down: the row keeps the names for the next round
                log.warning("model %s: the abandoned build's job %s cannot be deleted yet: %s", pk, job, exc)
                continue
            outcome = {"build_heartbeat": None, "build_job": "", "build_secret": ""}
            if attempt >= MAX_ATTEMPTS:
                outcome |= {"status": MLModel.Status.FAILED, "line": None,
                            "error": f"the build was interrupted {attempt} times (the API process running it "
                                     "stopped); save the model again to retry"}
            with transaction.atomic():
                lock()
                taken = MLModel.objects.filter(pk=pk, build_attempts=attempt, build_heartbeat=heartbeat).update(
                    **outcome, updated_at=now)
            if taken:
                log.warning("model %s: its build (attempt %s) lost its process; %s", pk, attempt,
                            "failed" if attempt >= MAX_ATTEMPTS else "queued again")

    def claim(self, now: datetime, running_here: int) -> list[tuple[int, int, str]]:
        """Queued builds this process takes: as many as its pool and the platform have room for."""
        with transaction.atomic():
            lock()
            running = MLModel.objects.filter(status=BUILDING, build_heartbeat__isnull=False).count()
            room = min(self.capacity - running_here, build_limits().platform - running)
            if room <= 0:
                return []
            queued = MLModel.objects.filter(status=BUILDING, build_heartbeat__isnull=True).order_by("pk")
            pks = list(queued.values_list("pk", flat=True)[:room])
            MLModel.objects.filter(pk__in=pks).update(build_heartbeat=now, build_attempts=F("build_attempts") + 1)
            return list(MLModel.objects.filter(pk__in=pks).order_by("pk").values_list("pk", "build_attempts",
                                                                                       "source"))

    def run_build(self, pk: int, attempt: int, source: str) -> None:
        try:
            outcome = build_outcome(pk, attempt, source)
            recorded = MLModel.objects.filter(pk=pk, status=BUILDING, build_attempts=attempt).update(
                **outcome, build_heartbeat=None, build_job="", build_secret="", updated_at=timezone.now())
            if not recorded:
                log.warning("model %s: build attempt %s finished after it was given up on; its outcome is dropped",
                            pk, attempt)
        except Exception:
            log.exception("model %s: build attempt %s failed unexpectedly; its heartbeat stops, so it is retried",
                          pk, attempt)
        finally:
            with self.mine_lock:
                self.mine.pop(pk, None)
            connection.close()  # this pool thread may sit idle for long
            self.wake.set()  # room for the next queued build


def _attempts(builds: Mapping[int, int]) -> Q:
    """The rows of these builds (at least one), each at its attempt."""
    return functools.reduce(operator.or_, (Q(pk=pk, build_attempts=attempt) for pk, attempt in builds.items()))


_started: Dispatcher | None = None
_start_lock = threading.Lock()


def start() -> Dispatcher:
    """Start this process's dispatcher (once; ``backend.wsgi`` does it in each API process)."""
    global _started
    with _start_lock:
        if _started is None:
            _started = Dispatcher(build_limits().platform)
            threading.Thread(target=_started.run, name="model-build-dispatcher", daemon=True).start()
    return _started


def wake() -> None:
    """Tell this process's dispatcher, where one runs, that a build was queued."""
    if _started is not None:
        _started.wake.set()
