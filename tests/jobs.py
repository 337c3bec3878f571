"""The tests' own jobs (a trainer of a test's choosing, a logger to restart), started through the
local launcher as ``kafkaml train`` starts its jobs: one launcher per test directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kafkaml.jobs import JobSpec, Role
from kafkaml.jobs.local import LocalJob, LocalLauncher

ROLES = {"training_worker.aggregator": Role.AGGREGATOR, "training_worker.trainer": Role.TRAINER,
         "training_worker.single": Role.SINGLE,
         "data_control_logger": Role.LOGGER, "model_control_logger": Role.LOGGER, "inference_worker": Role.INFERENCE}


def local_job(directory: Path, name: str, module: str, environment: Mapping[str, str]) -> LocalJob:
    """The job ``name`` running ``python -m module`` under ``directory/jobs/`` (not started); its log
    is ``job.log_path``."""
    return LocalJob(LocalLauncher(directory), JobSpec(name=name, role=ROLES[module], owner="tests", training=name,
                                                      image="kafka-ml/worker:0.1.0", module=module,
                                                      environment=environment))


def logged(job: LocalJob, text: str) -> bool:
    """Whether the job's log holds ``text`` yet (the log appears once the job has started): a
    condition to wait on instead of sleeping while a job catches up."""
    return job.log_path.exists() and text in job.log_path.read_text()
