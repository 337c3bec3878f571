"""What the Django services share at the HTTP edge: typed errors; the exception handler and the
error pages under ``/api/`` (every failure a clear JSON answer, never a 500 page); requests refused
before any view reads them (a body above BACKEND_MAX_BODY_BYTES: 413; a NUL character in a query
parameter: 400, PostgreSQL cannot compare text with it); the Content-Security-Policy of every
answer. The body parser and the pages are in
:mod:`kafkaml.services.rest` (DRF's settings import them while its views load)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kafkaml.jobs import JobError
from kafkaml.services.settings import API_CONTENT_SECURITY_POLICY, UI_CONTENT_SECURITY_POLICY

log = logging.getLogger(__name__)

#: Paths that stream their body to disk with their own, larger bound (trained models).
STREAMED_SUFFIXES = ("/model/",)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is in use or in a state that forbids this."
    default_code = "conflict"


class Unavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the platform depends on is not reachable or not configured."
    default_code = "unavailable"


class QuotaExceeded(APIException):
    """The user is at a platform quota (e.g. trainings running at once): 429 until something ends.
    Not DRF's ``Throttled``: no time says when it clears."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "A platform quota of yours is used up."
    default_code = "quota_exceeded"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than allowed."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus: errors that carry their own body (``response_body()``), 413 for a body
    Django found too big, and a logged, detail-free 500 for anything unexpected."""
    if isinstance(exc, APIException) and hasattr(exc, "response_body"):
        return Response(exc.response_body(), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, JobError):  # the launcher's API (Kubernetes) refused or is unreachable
        exc = Unavailable(f"the job launcher failed: {exc}")
    if isinstance(exc, (OperationalError, InterfaceError)):  # the database is down or restarting
        log.warning("the database cannot be reached: %s", exc)
        exc = Unavailable("the database cannot be reached; try again shortly")
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unexpected error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response({"detail": "Internal error; it was logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response


class BodySizeLimit:
    """Refuse a request body above BACKEND_MAX_BODY_BYTES before anything reads it (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(400, "Content-Length is not a number")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and not request.path.endswith(STREAMED_SUFFIXES):
            return _answer(413, f"the request body is {length} bytes; at most "
                                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} are accepted")
        return self.get_response(request)


def _answer(status_code: int, detail: str) -> HttpResponse:
    return HttpResponse(json.dumps({"detail": detail}), status=status_code, content_type="application/json")


class NulFreeQuery:
    """A query parameter holding a NUL character (``?datasource_id=a%00b``) is a 400: PostgreSQL
    refuses NUL in text, so the query would fail as a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()):
            return _answer(400, "a query parameter contains a NUL character (%00)")
        return self.get_response(request)


class ContentSecurityPolicy:
    """A Content-Security-Policy on every answer: the UI's on pages (and on the files of the UI
    served outside /api/), the API's on the rest of /api/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        page = response.get("Content-Type", "").startswith("text/html")
        api = request.path.startswith("/api/") and not page
        response.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY if api
                            else UI_CONTENT_SECURITY_POLICY)
        return response


# Django's own error pages (a URL no view matches, e.g. /api/models/abc/; an error outside DRF) are
# HTML; under /api/ they answer in the API's JSON error shape instead (each service's urls.py).

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
