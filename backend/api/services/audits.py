"""Audits: ``kafkaml audit --recompute`` run as a job for a training result, its verdict stored.

The job reads the chain and the platform Kafka and re-derives every global version; it checks
that the training was created by this platform's factory for this platform's token (a look-alike
platform's training fails the audit). It reports back with a token of its own, good for this
audit's verdict only and revoked once the verdict is in (or once the job is found ended without
one), so neither it nor the aggregator's token can stand in for the other.
"""

from __future__ import annotations

import logging
import secrets

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from backend.api.environment import platform_settings
from backend.api.models import Audit, TrainingResult
from backend.api.services import jobs
from backend.api.services.chain import platform_contracts
from kafkaml.jobs import JobSpec, JobState, Role, SecretFile
from kafkaml.jobs.spec import LABEL_ROLE
from kafkaml.services.api import Conflict
from kafkaml.services.registry.auth import token_digest

log = logging.getLogger(__name__)

TOKEN_KEY = "audit-token"


def audit_start(*, result: TrainingResult) -> Audit:
    if not result.contract_address:
        raise ValidationError({"detail": ["only a blockchain training can be audited against its chain"]})
    if result.audits.filter(status=Audit.Status.RUNNING).exists():
        raise Conflict("an audit of this training is running already")
    contracts = platform_contracts()
    site = platform_settings()
    token = secrets.token_urlsafe(32)
    audit = Audit.objects.create(result=result, token_sha256=token_digest(token.encode()))
    secret = jobs.audit_secret_name(audit)
    try:
        launcher = jobs.launcher()
        launcher.put_secret(secret, {TOKEN_KEY: token.encode()}, jobs.labels(result))
        launcher.launch(JobSpec(
            name=jobs.audit_job_name(audit), role=Role.AUDIT, owner=jobs.OWNER, training=str(result.pk),
            image=site.job_image, module="training_worker.audit_job", service_account=site.job_service_account,
            environment={"ETH_RPC_URL": site.rpc_url, "ETH_CONTRACT_ADDRESS": result.contract_address,
                         "ETH_FACTORY_ADDRESS": contracts.factory, "ETH_TOKEN_ADDRESS": contracts.token,
                         "BOOTSTRAP_SERVERS": site.bootstrap_servers, "AUDIT_ID": str(audit.pk),
                         "RESULT_URL": f"{site.public_url}/api/results/{result.pk}/"},
            secret_files={"RESULT_TOKEN": SecretFile(secret, TOKEN_KEY, f"{jobs.SECRET_DIR}/token/{TOKEN_KEY}")},
            active_deadline_s=3600,
        ))
    except (jobs.JobError, OSError, ValueError) as exc:
        _end(audit, Audit.Status.ERROR, {"error": str(exc)})
        audit.refresh_from_db()
    return audit


def audit_report(*, audit: Audit, report: dict) -> bool:
    """Store the audit job's verdict once, and revoke its token; ``False`` when stored before."""
    if not isinstance(report.get("ok"), bool) or not isinstance(report.get("checks", []), list):
        raise ValidationError({"ok": ["expected the audit's verdict: ok (bool) and checks (list)"]})
    status = Audit.Status.PASSED if report["ok"] else (Audit.Status.ERROR if report.get("error")
                                                      else Audit.Status.FAILED)
    return _end(audit, status, report)


def audits_sync(*, result: TrainingResult) -> None:
    """A running audit whose job ended without a verdict (it crashed, or hit its deadline) is an
    error, and its token is revoked: nothing can report for it any more."""
    running = list(result.audits.filter(status=Audit.Status.RUNNING))
    if not running:
        return
    ended = {status.name for status in jobs.launcher().status({**jobs.selector(result), LABEL_ROLE: Role.AUDIT.value})
             if status.state in (JobState.FAILED, JobState.SUCCEEDED)}
    for audit in running:
        if jobs.audit_job_name(audit) in ended:
            _end(audit, Audit.Status.ERROR, {"error": "the audit job ended without a verdict; see its logs"})


def _end(audit: Audit, status: str, report: dict) -> bool:
    updated = Audit.objects.filter(pk=audit.pk, status=Audit.Status.RUNNING).update(
        status=status, report=report, finished_at=timezone.now(), token_sha256="")
    if updated:
        try:
            jobs.launcher().delete_secret(jobs.audit_secret_name(audit))
        except jobs.JobError as exc:  # the token is revoked already; the Secret goes with the result
            log.warning("the secret of audit %s could not be deleted: %s", audit.pk, exc)
    return bool(updated)
