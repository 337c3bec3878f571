"""The Docker launcher's staged secret copies are removed by a launcher that runs as the jobs' own
user (the compose deployment's backend, uid 10001), although each copy's directory is read-only
while a container mounts it. No engine is needed: staging and removal are the launcher's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kafkaml.jobs import JobSpec, SecretFile
from kafkaml.jobs.docker_launcher import STAGED, DockerLauncher
from kafkaml.jobs.manifest import PodSecurity

JOB_USER = 10001


def stage_then_remove(secrets_dir: Path, user: int) -> bool:
    """As ``user``: put a secret, stage it for a job, remove the job's copies; True when none is left."""
    launcher = DockerLauncher(engine=None, network="unused", secrets_dir=secrets_dir,
                              security=PodSecurity(run_as_user=user, run_as_group=user))
    launcher.put_secret("wallet-client-1", {"key": b"0x" + b"11" * 32}, {})
    spec = JobSpec(name="trainer-1", role="trainer", training="t1", owner="tests", image="kafka-ml/worker:test",
                   module="training_worker.trainer",
                   secret_files={"ETH_WALLET_KEY": SecretFile("wallet-client-1", "key", "/var/run/secrets/wallet/key")})
    mounts, _ = launcher._stage_secrets(spec, spec.name)  # noqa: SLF001 what launch() does before it asks the engine
    staged = secrets_dir / STAGED / "trainer-1"
    assert [Path(source).parent for source in mounts] == [staged] and not os.access(next(iter(mounts)), os.W_OK)
    launcher._remove_staged("trainer-1")  # noqa: SLF001 what stop() and a failed launch() do
    return not staged.exists()


def test_a_launcher_running_as_the_jobs_user_removes_the_copies_it_staged() -> None:
    directory = Path(tempfile.mkdtemp(prefix="kafkaml-staged-"))
    try:
        if os.getuid() != 0:  # already the scenario: a launcher without privileges, jobs as itself
            assert stage_then_remove(directory / "secrets", os.getuid())
            return
        os.chmod(directory, 0o755)
        os.chown(directory, JOB_USER, JOB_USER)
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                os.setgroups([])
                os.setgid(JOB_USER)
                os.setuid(JOB_USER)
                code = 0 if stage_then_remove(directory / "secrets", JOB_USER) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the staged copies were left behind (1) or staging failed (2)"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
