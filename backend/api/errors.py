"""Typed API errors and the exception handler: every failure a clear JSON answer, never a 500 page.

Services raise these (or DRF's ValidationError for field-level 400s); anything unexpected is
logged with its traceback and answered with a 500 that names no internals.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kafkaml.jobs import JobError

log = logging.getLogger(__name__)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is in use or in a state that forbids this."
    default_code = "conflict"


class Unavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the platform depends on is not reachable or not configured."
    default_code = "unavailable"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than allowed."
    default_code = "payload_too_large"


class ModelBuildFailed(APIException):
    """The model source does not build: a 400 with the builder's message and, where known, the
    source line (an integer, for an editor to mark)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ModelBuildFailed):
        return Response({"source": [exc.message], "line": exc.line}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, JobError):  # the launcher's API (Kubernetes) refused or is unreachable
        exc = Unavailable(f"the job launcher failed: {exc}")
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unexpected error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response({"detail": "Internal error; it was logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response


# Django's own error pages (a URL no view matches, e.g. /api/models/abc/; an error outside DRF) are
# HTML; under /api/ they answer in the API's JSON error shape instead (backend/urls.py).

def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal error; it was logged."}, status=500)
    return defaults.server_error(request)
