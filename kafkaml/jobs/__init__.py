"""One job interface, three launchers: Kubernetes Jobs in a cluster, containers of one host's
Docker Engine, process groups in local mode.

Callers describe a job with :class:`JobSpec` and use a :class:`Launcher`, the one their settings
choose (:func:`launcher_from_settings`); a training job's environment is an :class:`AggregatorJob`
or a :class:`TrainerJob` (:mod:`kafkaml.jobs.contract`). The Kubernetes
and Docker launchers live in :mod:`kafkaml.jobs.kubernetes_launcher` and
:mod:`kafkaml.jobs.docker_launcher`, imported only where they are used: their clients take time
to import.
"""

from kafkaml.jobs.contract import AggregatorJob, ChainAccess, InferenceJob, SingleTrainingJob, TrainerJob
from kafkaml.jobs.factory import launcher_from_settings
from kafkaml.jobs.launcher import JobError, JobExists, JobHandle, JobState, JobStatus, Launcher
from kafkaml.jobs.local import LocalJob, LocalLauncher, MissingSecret
from kafkaml.jobs.spec import (
    LABEL_JOB,
    LABEL_OWNER,
    LABEL_PART_OF,
    LABEL_ROLE,
    LABEL_TRAINING,
    JobSpec,
    Resources,
    Role,
    SecretFile,
)

__all__ = [
    "LABEL_JOB", "LABEL_OWNER", "LABEL_PART_OF", "LABEL_ROLE", "LABEL_TRAINING", "AggregatorJob", "ChainAccess", "InferenceJob", "SingleTrainingJob",
    "JobError", "JobExists", "JobHandle", "JobSpec", "JobState", "JobStatus", "Launcher", "LocalJob", "LocalLauncher",
    "MissingSecret", "Resources", "Role", "SecretFile", "TrainerJob", "launcher_from_settings",
]
