"""Requests refused before any view reads them: a body above BACKEND_MAX_BODY_BYTES (413), and a
query parameter holding a NUL character (400: PostgreSQL cannot compare text with it, so a filter
such as ``?datasource_id=a%00b`` failed in the database with a 500)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

#: Paths that stream their body to disk with their own, larger bound (trained models).
STREAMED_SUFFIXES = ("/model/",)


class BodySizeLimit:
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


class NulFreeQuery:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()):
            return _answer(400, "a query parameter contains a NUL character (%00)")
        return self.get_response(request)


def _answer(status: int, detail: str) -> HttpResponse:
    return HttpResponse(json.dumps({"detail": detail}), status=status, content_type="application/json")
