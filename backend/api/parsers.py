"""The one request body format: JSON that PostgreSQL can store and Python can parse.

DRF's parser lets two things through to a 500: a NUL character (``\\u0000``) anywhere in a string
or a key, which PostgreSQL refuses in text and ``jsonb`` columns (DataError at save), and nesting
deep enough to exhaust the interpreter's recursion limit (RecursionError, not a ValueError). Both
are a 400 here, before any view sees the data.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
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
