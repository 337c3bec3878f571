"""The one request body format of the Django services — JSON PostgreSQL can store and Python can
parse — the pages every list answers with, and the string fields every input serializer uses.

DRF's parser lets two things through to a 500: a NUL character (``\\u0000``) anywhere in a string
or a key, which PostgreSQL refuses in text and ``jsonb`` columns, and nesting deep enough to
exhaust the interpreter's recursion limit (RecursionError, not a ValueError): both are a 400 here.
Pages take ``?limit=`` (1 to MAX_LIMIT, default PAGE_SIZE) and ``?offset=``; a value that is not a
whole number in range is a 400 (DRF's own class silently falls back to its defaults).
DRF's ``CharField`` takes a number for a string (``5`` becomes ``"5"``), so a field the schema
types as a string accepted what the schema says it refuses: input serializers use
:class:`StrictCharField` and :class:`StrictRegexField`, which take JSON strings only (400 "Not a
valid string."). This module imports no DRF view: DRF's settings import it while its views load.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if _has_nul(data):
            raise ParseError("JSON parse error - a string or key contains \\u0000, which cannot be stored")
        return data


def _has_nul(data: Any) -> bool:
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            if any("\x00" in key for key in value):
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


MAX_LIMIT = 1000
MAX_OFFSET = 2**62


class Page(LimitOffsetPagination):
    """The pages every list answers with (see the module docstring)."""

    max_limit = MAX_LIMIT

    def get_limit(self, request) -> int:
        return _whole(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request) -> int:
        return _whole(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
                  self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters

    def rendered_page(self, request, limit: int, offset: int, count: int, rows_json: str) -> HttpResponse:
        """The page DRF's ``get_paginated_response`` would answer, for rows the database already
        rendered as a JSON array (``rows_json``): they are passed through, not decoded and encoded."""
        self.request, self.limit, self.offset, self.count = request, limit, offset, count
        envelope = json.dumps({"count": count, "next": self.get_next_link(), "previous": self.get_previous_link()},
                              separators=(",", ":"))
        return HttpResponse(f'{envelope[:-1]},"results":{rows_json}}}', content_type="application/json")


def _whole(request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not minimum <= int(raw) <= maximum:
        raise ValidationError({name: [f"expected a whole number from {minimum} to {maximum}"]})
    return int(raw)


class _StringsOnly:
    """Refuses any value but a string before the field's own checks (see the module docstring)."""

    default_error_messages = {"not_a_string": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictCharField(_StringsOnly, serializers.CharField):
    """A ``CharField`` that refuses numbers, booleans and anything else that is not a string."""


class StrictRegexField(_StringsOnly, serializers.RegexField):
    """A ``RegexField`` that refuses numbers, booleans and anything else that is not a string."""
