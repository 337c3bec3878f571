"""Job tokens: a training's jobs report with a token scoped to their one training result.

The token is generated when the result is launched, handed to the job as a secret file and
stored here only as its SHA-256. A request carrying ``Authorization: Job <token>`` is
authenticated as that result's job and nothing else: it can post reports and the final model
of that result (``JobTokenAuthentication`` + ``IsTheResultsJob``), and no user endpoint accepts it.
"""

from __future__ import annotations

import hashlib
import hmac

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from backend.api.models import TrainingResult

SCHEME = b"job"


class JobIdentity:
    """The authenticated party of a job request: one training result's jobs."""

    is_authenticated = True
    is_staff = False

    def __init__(self, result: TrainingResult) -> None:
        self.result = result


class JobTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != SCHEME:
            return None
        if len(parts) != 2 or len(parts[1]) > 200:
            raise AuthenticationFailed("Authorization: Job <token> expected")
        digest = hashlib.sha256(parts[1]).hexdigest()
        pk = request.parser_context["kwargs"].get("pk") if request.parser_context else None
        result = TrainingResult.objects.filter(pk=pk).first() if pk is not None else None
        if result is None or not result.token_sha256 or not hmac.compare_digest(result.token_sha256, digest):
            raise AuthenticationFailed("this job token is not valid for this training result")
        return JobIdentity(result), None

    def authenticate_header(self, request) -> str:
        return "Job"


class IsTheResultsJob(BasePermission):
    """Only the job of the result named in the URL (the authentication already matched them)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, JobIdentity)
