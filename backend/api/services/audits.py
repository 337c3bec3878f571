"""Audits: ``kafkaml audit --recompute`` run as a job for a training result, its verdict stored.

The job reads the chain and the platform Kafka and re-derives every global version; it reports
back with the result's job token (the audit is one of that result's jobs), so its verdict can
only land on the result it audited.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from backend.api.environment import platform
from backend.api.models import Audit, TrainingResult
from backend.api.services import jobs
from kafkaml.django_api import Conflict
from kafkaml.jobs import JobSpec, Role, SecretFile


def audit_start(*, result: TrainingResult) -> Audit:
    if not result.contract_address:
        raise ValidationError({"detail": ["only a blockchain training can be audited against its chain"]})
    if result.audits.filter(status=Audit.Status.RUNNING).exists():
        raise Conflict("an audit of this training is running already")
    site = platform()
    audit = Audit.objects.create(result=result)
    from backend.api.services.deployments import TOKEN_KEY

    try:
        jobs.launcher().launch(JobSpec(
            name=f"audit-{result.pk}-{audit.pk}", role=Role.AUDIT, owner=jobs.OWNER, training=str(result.pk),
            image=site.job_image, module="training_worker.audit_job", service_account=site.job_service_account,
            environment={"ETH_RPC_URL": site.rpc_url, "ETH_CONTRACT_ADDRESS": result.contract_address,
                         "BOOTSTRAP_SERVERS": site.bootstrap_servers, "AUDIT_ID": str(audit.pk),
                         "RESULT_URL": f"{site.public_url}/api/results/{result.pk}/"},
            secret_files={"RESULT_TOKEN": SecretFile(jobs.secret_name(result), TOKEN_KEY,
                                                     f"{jobs.SECRET_DIR}/token/{TOKEN_KEY}")},
            active_deadline_s=3600,
        ))
    except (jobs.JobError, OSError, ValueError) as exc:
        Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.ERROR, report={"error": str(exc)},
                                                 finished_at=timezone.now())
        audit.refresh_from_db()
    return audit


def audit_report(*, result: TrainingResult, audit_id: int, report: dict) -> bool:
    """Store the audit job's verdict once; ``False`` when it was stored before."""
    if not isinstance(report.get("ok"), bool) or not isinstance(report.get("checks", []), list):
        raise ValidationError({"ok": ["expected the audit's verdict: ok (bool) and checks (list)"]})
    status = Audit.Status.PASSED if report["ok"] else (Audit.Status.ERROR if report.get("error")
                                                      else Audit.Status.FAILED)
    updated = Audit.objects.filter(pk=audit_id, result=result, status=Audit.Status.RUNNING).update(
        status=status, report=report, finished_at=timezone.now())
    if not updated and not Audit.objects.filter(pk=audit_id, result=result).exists():
        raise ValidationError({"audit": ["no such audit of this training"]})
    return bool(updated)
