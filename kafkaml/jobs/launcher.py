"""The one interface every caller launches, watches and stops jobs through.

Callers (the two backends) find their jobs again by labels, never by name patterns: a name is
only unique, while labels say what a job is for (training, role, owner), and they survive a
restart of the caller because they live with the job, not in the caller's memory.
Every query is narrowed to this project's jobs (``app.kubernetes.io/part-of=kafka-ml``), so a
selector can never reach a workload that is not ours.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kafkaml.jobs import rules
from kafkaml.jobs.spec import LABEL_JOB, LABEL_PART_OF, PART_OF, JobSpec


class JobError(RuntimeError):
    """A job could not be launched or queried; the message says which and why."""


class JobExists(JobError):
    """A job of that name exists already (names are unique, as in a Kubernetes namespace)."""


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobHandle:
    """A launched job: its name and labels; ``selector`` finds exactly this job."""

    name: str
    labels: Mapping[str, str]

    @property
    def selector(self) -> dict[str, str]:
        return {LABEL_JOB: self.name}


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands. ``reason`` says why it failed when the launcher knows
    (``DeadlineExceeded``, ``BackoffLimitExceeded``, ``Lost`` for a process that vanished)."""

    name: str
    state: JobState
    labels: Mapping[str, str]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""


class Launcher(ABC):
    """Runs :class:`JobSpec` s somewhere; status, logs and stop select jobs by labels."""

    @abstractmethod
    def launch(self, spec: JobSpec) -> JobHandle:
        """Start the job; raise :class:`JobExists` when its name is taken."""

    @abstractmethod
    def status(self, selector: Mapping[str, str]) -> list[JobStatus]:
        """The jobs carrying every label of ``selector``, ordered by name."""

    @abstractmethod
    def logs(self, selector: Mapping[str, str], tail_lines: int = 100) -> dict[str, str]:
        """The last ``tail_lines`` lines of output of each selected job, by job name."""

    @abstractmethod
    def stop(self, selector: Mapping[str, str]) -> list[str]:
        """Stop and delete the selected jobs (processes included); return their names.

        Deleting, as Kubernetes does: a stopped job no longer appears in :meth:`status`.
        """

    @abstractmethod
    def put_secret(self, name: str, files: Mapping[str, bytes], labels: Mapping[str, str]) -> None:
        """Create (or replace) the secret ``name`` whose keys are ``files``, for jobs to mount
        through :class:`~kafkaml.jobs.spec.SecretFile`; ``labels`` say whose it is."""

    @abstractmethod
    def read_secret(self, name: str, key: str) -> bytes | None:
        """The value of ``key`` in the secret ``name`` (None when either does not exist): what
        the launcher's owner put there itself, e.g. a key it must still use after the job ended."""

    @abstractmethod
    def delete_secret(self, name: str) -> None:
        """Delete the secret ``name`` (nothing happens when it does not exist)."""


def scoped(selector: Mapping[str, str], *, for_stop: bool = False) -> dict[str, str]:
    """``selector`` checked and narrowed to this project's jobs.

    Stopping with an empty selector would stop every job of the project: refused.
    """
    if for_stop and not selector:
        raise ValueError("refusing to stop with an empty selector (it would stop every job)")
    rules.check_labels(selector)
    return {**selector, LABEL_PART_OF: PART_OF}


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Equality-based selection, as Kubernetes' ``key=value,...`` selectors."""
    return all(labels.get(key) == value for key, value in selector.items())
