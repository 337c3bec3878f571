"""Job tokens: each job of a training gets a token of its own, good for its own endpoints only.

A token is generated when the job is launched, handed to it as a secret file and stored here
only as its SHA-256; it is revoked (the digest cleared) when the job ends. ``Authorization: Job
<token>`` names one of two kinds of job of the result in the URL:

* the result's **aggregator** (``TrainingResult.token_sha256``): it posts the rounds and the final
  record and uploads the final model (``IsTheAggregator``);
* one **audit** of the result (``Audit.token_sha256``): it posts that audit's verdict, nothing
  else (``IsTheAudit``);
* one created or running **inference** of the result (``Inference.token_sha256``): its worker
  downloads the result's final model, nothing else (``IsAPersonOrTheInference``).

Neither is a user, so no user endpoint accepts them (those authenticate people only), and a job
endpoint accepts neither a user's token nor a relay's. The scheme sends no challenge: every
refusal is a 403, whether the token is unknown or of the other kind.
"""

from __future__ import annotations

import hmac

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from backend.api.models import Audit, Inference, TrainingResult
from kafkaml.services.registry.auth import presented_token, token_digest

SCHEME = b"job"


class JobIdentity:
    """The authenticated party of a job request: the result's aggregator, one of its audits, or
    the worker of one of its inferences."""

    is_authenticated = True
    is_staff = False

    def __init__(self, result: TrainingResult, audit: Audit | None = None, inference: Inference | None = None) -> None:
        self.result = result
        self.audit = audit
        self.inference = inference


class JobTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = presented_token(request, SCHEME)
        if token is None:
            return None
        digest = token_digest(token)
        pk = request.parser_context["kwargs"].get("pk") if request.parser_context else None
        result = TrainingResult.objects.filter(pk=pk).first() if pk is not None else None
        if result is None:
            raise AuthenticationFailed("this job token is not valid for this training result")
        if result.token_sha256 and hmac.compare_digest(result.token_sha256, digest):
            return JobIdentity(result), None
        audit = Audit.objects.filter(result=result, token_sha256=digest).first()
        if audit is not None:
            return JobIdentity(result, audit), None
        inference = Inference.objects.filter(result=result, token_sha256=digest).first()
        if inference is not None:  # an ended inference's digest is cleared: its token is revoked
            return JobIdentity(result, inference=inference), None
        raise AuthenticationFailed("this job token is not valid for this training result")


class IsTheAggregator(BasePermission):
    """Only the aggregator of the result named in the URL (the authentication matched them)."""

    message = "only this training's aggregator job may do this"

    def has_permission(self, request, view) -> bool:
        identity = request.user
        return isinstance(identity, JobIdentity) and identity.audit is None and identity.inference is None


class IsTheAudit(BasePermission):
    """Only the audit job of the audit named in the URL."""

    message = "only this audit's job may do this"

    def has_permission(self, request, view) -> bool:
        identity = request.user
        return (isinstance(identity, JobIdentity) and identity.audit is not None
                and identity.audit.pk == view.kwargs.get("audit_id"))


class IsAPersonOrTheInference(BasePermission):
    """A signed-in person (who sees only what is theirs), or the worker of an inference of the
    result named in the URL: not the result's aggregator, nor an audit."""

    message = "only a person or this training's inference worker may do this"

    def has_permission(self, request, view) -> bool:
        identity = request.user
        if isinstance(identity, JobIdentity):
            return identity.inference is not None
        return bool(identity and identity.is_authenticated)
