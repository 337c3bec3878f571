"""What the Django services share at the HTTP edge: typed errors, the exception handler (every
failure a clear JSON answer, never a 500 page) and the body-size limit (413 before anything reads
an oversized body)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
