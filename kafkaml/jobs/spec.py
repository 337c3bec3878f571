"""What a job is, independent of where it runs: one description for every launcher.

The platform backend and the federated backend describe a job once; the Kubernetes launcher
turns it into a ``batch/v1`` Job (an ``apps/v1`` Deployment for a long-running service), the
Docker launcher into a container and the local launcher into a process group (one of either per
replica of a service). So the description
holds only what both can honour: a program, plain settings, secret *files* (a program reads
``<NAME>_FILE``; a key is never an environment value), labels that status, logs and stop select
on, resources and time limits. Everything is checked when the spec is built, so a mistake fails
in the caller, not in a cluster minutes later.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kafkaml.jobs import rules

#: Every job of this project carries this label, so a launcher never touches anyone else's jobs.
LABEL_PART_OF = "app.kubernetes.io/part-of"
PART_OF = "kafka-ml"
LABEL_ROLE = "app.kubernetes.io/component"
LABEL_OWNER = "app.kubernetes.io/managed-by"
LABEL_TRAINING = "kafka-ml/training"
#: One job's own label: selecting a single job goes by labels too, never by name.
LABEL_JOB = "kafka-ml/job"
#: Which replica of a long-running service a process or container is (host launchers only: a
#: Deployment's pods are its replicas).
LABEL_REPLICA = "kafka-ml/replica"
STANDARD_LABELS = (LABEL_PART_OF, LABEL_ROLE, LABEL_OWNER, LABEL_TRAINING, LABEL_JOB, LABEL_REPLICA)
#: Most replicas of one service: far above what a topic's partitions can keep busy.
MAX_REPLICAS = 32

DAY_S = 86_400
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Role(StrEnum):
    """What a job does; it decides nothing by itself but is a label every query can use."""

    AGGREGATOR = "aggregator"
    TRAINER = "trainer"
    #: A training of one model on one of the platform's datasources, not federated.
    SINGLE = "single"
    BUILDER = "builder"
    AUDIT = "audit"
    INFERENCE = "inference"
    #: A control topic's logger: a Deployment in a cluster, a local job where tests run one alone.
    LOGGER = "logger"


@dataclass(frozen=True)
class SecretFile:
    """One key of a Kubernetes Secret, seen by the job as the file ``path``.

    In a cluster the Secret is mounted read-only on ``path``'s directory; locally ``path`` is
    replaced by the file that holds the same secret on this machine.
    """

    secret: str
    key: str
    path: str

    def __post_init__(self) -> None:
        rules.check_dns_subdomain("secret name", self.secret)
        if len(self.key) > 253 or not rules.SECRET_KEY.fullmatch(self.key):
            raise ValueError(f"secret key {self.key!r} must be letters, digits, '-', '_' and '.'")
        directory, file_name = posixpath.split(self.path)
        if (not self.path.startswith("/") or posixpath.normpath(self.path) != self.path or directory == "/"
                or not rules.SECRET_KEY.fullmatch(file_name)):
            raise ValueError(f"secret file path {self.path!r} must be an absolute, normalised path of a file "
                             f"in a directory of its own (e.g. /var/run/secrets/kafka-ml/wallet/key)")
        if directory == "/tmp" or directory.startswith("/tmp/"):
            raise ValueError(f"secret file path {self.path!r} must not be under /tmp (the writable scratch volume)")

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.path)


@dataclass(frozen=True)
class Resources:
    """CPU and memory requests and limits, as Kubernetes quantities."""

    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "2"
    memory_limit: str = "2Gi"

    def __post_init__(self) -> None:
        for kind in ("cpu", "memory"):
            request = rules.quantity(f"{kind} request", getattr(self, f"{kind}_request"))
            limit = rules.quantity(f"{kind} limit", getattr(self, f"{kind}_limit"))
            if request > limit:
                raise ValueError(f"{kind} request {getattr(self, f'{kind}_request')} exceeds its limit "
                                 f"{getattr(self, f'{kind}_limit')}")


@dataclass(frozen=True)
class JobSpec:
    """One job: what runs, with which settings and secrets, labelled for whom, within which limits.

    Exactly one of ``module`` (run as ``python -m module``) and ``command`` is given.
    ``training`` is the id the job works for (a training or result id; a model id for a
    builder) and becomes the ``kafka-ml/training`` label; ``owner`` is the application that
    launched it (``app.kubernetes.io/managed-by``). ``labels`` adds labels of the caller's own.
    ``backoff_limit`` is the number of retries after a failure: raise it only for jobs that
    resume safely. ``ttl_after_finished_s`` keeps a finished job (and its logs) readable for at
    least a day.

    ``replicas`` makes the job a long-running service (an inference worker): None (the default)
    is a job that runs to completion; a number is that many replicas of the program, which are
    expected to run until they are stopped (a Deployment in a cluster, one process group or
    container per replica on a host: :meth:`instances`). A service has no deadline.
    """

    name: str
    role: Role
    owner: str
    training: str
    image: str
    module: str = ""
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    secret_files: Mapping[str, SecretFile] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    service_account: str = "default"
    active_deadline_s: int | None = None
    backoff_limit: int = 0
    ttl_after_finished_s: int = DAY_S
    replicas: int | None = None

    def __post_init__(self) -> None:
        # Own copies, so a later change to the caller's dicts cannot bypass the checks below.
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "command", tuple(self.command))
        for name in ("environment", "secret_files", "labels"):
            object.__setattr__(self, name, dict(getattr(self, name)))
        rules.check_dns_label("job name", self.name)
        rules.check_dns_subdomain("service account", self.service_account)
        self._check_program()
        self._check_image()
        self._check_labels()
        self._check_environment()
        self._check_limits()

    @property
    def all_labels(self) -> dict[str, str]:
        """The labels on the job (and its pods): the standard ones, then the caller's."""
        return {LABEL_PART_OF: PART_OF, LABEL_ROLE: self.role.value, LABEL_OWNER: self.owner,
                LABEL_TRAINING: self.training, LABEL_JOB: self.name, **self.labels}

    def instances(self) -> dict[str, dict[str, str]]:
        """What a host launcher runs for this spec, by name, with the labels of each: the job
        itself for a job; ``<name>-<index>``, labelled with its index, for each replica of a
        service (all of them keep the job's own label, so its handle selects them all)."""
        if self.replicas is None:
            return {self.name: self.all_labels}
        return {f"{self.name}-{index}": {**self.all_labels, LABEL_REPLICA: str(index)}
                for index in range(self.replicas)}

    def argv(self, python: str = "python") -> list[str]:
        """The program and its arguments, with ``python`` as the interpreter of a module job."""
        return [python, "-m", self.module] if self.module else list(self.command)

    def secret_environment(self, paths: Mapping[str, str]) -> dict[str, str]:
        """``<NAME>_FILE`` for each secret file, given where each file is (by secret file name)."""
        return {f"{name}_FILE": paths[name] for name in self.secret_files}

    def _check_program(self) -> None:
        if bool(self.module) == bool(self.command):
            raise ValueError(f"job {self.name}: give exactly one of module and command")
        if self.module and not _MODULE.fullmatch(self.module):
            raise ValueError(f"job {self.name}: module {self.module!r} is not a dotted Python module name")
        if any(not isinstance(part, str) or not part for part in self.command):
            raise ValueError(f"job {self.name}: command parts must be non-empty strings")

    def _check_image(self) -> None:
        name, _, digest = self.image.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        if not name or not (digest.startswith("sha256:") or (tag and tag != "latest")):
            raise ValueError(f"job {self.name}: image {self.image!r} must name a fixed tag or digest, "
                             f"not 'latest'")

    def _check_labels(self) -> None:
        if not self.owner or not self.training:
            raise ValueError(f"job {self.name}: owner and training are required (they label the job)")
        overridden = set(self.labels) & set(STANDARD_LABELS)
        if overridden:
            raise ValueError(f"job {self.name}: labels {sorted(overridden)} are set by the launcher")
        rules.check_labels(self.all_labels)

    def _check_environment(self) -> None:
        rules.check_environment(self.environment)
        for name, secret_file in self.secret_files.items():
            if not isinstance(secret_file, SecretFile):
                raise ValueError(f"job {self.name}: secret file {name} must be a SecretFile")
            rules.check_environment({name: ""})
            clash = {name, f"{name}_FILE"} & set(self.environment)
            if clash:
                raise ValueError(f"job {self.name}: {sorted(clash)} set in the environment and as a "
                                 f"secret file")
        directories = [secret_file.directory for secret_file in self.secret_files.values()]
        if len(set(directories)) != len(directories):
            raise ValueError(f"job {self.name}: each secret file needs a directory of its own")

    def _check_limits(self) -> None:
        if self.active_deadline_s is not None and self.active_deadline_s < 1:
            raise ValueError(f"job {self.name}: active_deadline_s must be at least 1")
        if self.backoff_limit < 0:
            raise ValueError(f"job {self.name}: backoff_limit must not be negative")
        if self.replicas is not None:
            if isinstance(self.replicas, bool) or not 1 <= self.replicas <= MAX_REPLICAS:
                raise ValueError(f"job {self.name}: replicas must be 1 to {MAX_REPLICAS}")
            if self.active_deadline_s is not None:
                raise ValueError(f"job {self.name}: a long-running service has no active deadline")
            for name in self.instances():
                rules.check_dns_label("replica name", name)
        if self.ttl_after_finished_s < DAY_S:
            raise ValueError(f"job {self.name}: ttl_after_finished_s must be at least {DAY_S} "
                             f"(a day to read the logs)")
