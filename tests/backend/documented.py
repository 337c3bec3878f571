"""Every answer a backend test gets from a service's API must be one that service's OpenAPI schema
documents for the operation (issue 18, item 9): the session's fixture checks each response, so
every test of tests/backend also holds the schema to what the views really answer, with the
request that got it named when it does not.

Only the services the tests started are watched (``watch``), and only ``/api/`` operations the
schema has; a URL or method no operation matches (a 404 of the router, a 405) is not an
operation's answer. gunicorn's own 414 for a request line above its limit never reaches the
service (the fuzz test checks those separately).
"""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlsplit

import requests

#: A service's paths as its router matches them (literal paths before templated ones, as
#: /api/datasources/register/ is no /api/datasources/{id}/), each with its methods' answers.
Operations = list[tuple[re.Pattern[str], dict[str, set[str]]]]
_watched: dict[str, Operations | None] = {}


def watch(base_url: str) -> None:
    """Check the answers of the service at ``base_url`` (its schema is read at its first answer)."""
    _watched[base_url.rstrip("/")] = None


def _operations(base_url: str) -> Operations:
    request = urllib.request.Request(f"{base_url}/api/schema/", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        schema = json.loads(answer.read())
    operations = []
    for path, item in sorted(schema["paths"].items(), key=lambda entry: "{" in entry[0]):
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        operations.append((pattern, {method.upper(): set(operation["responses"]) for method, operation in item.items()}))
    return operations


def check(response: requests.Response) -> None:
    """Raise AssertionError when ``response`` is an answer its operation does not document."""
    url = urlsplit(response.url)
    base = f"{url.scheme}://{url.netloc}"
    if base not in _watched or not url.path.startswith("/api/") or url.path.startswith(("/api/schema/", "/api/docs/")):
        return
    if response.status_code == 414:
        return
    if _watched[base] is None:
        _watched[base] = _operations(base)
    methods = next((methods for pattern, methods in _watched[base] or [] if pattern.match(url.path)), {})
    codes = methods.get(str(response.request.method))
    if codes is not None:
        assert str(response.status_code) in codes, (
            f"{response.request.method} {url.path} answered {response.status_code}, which its OpenAPI schema does "
            f"not document (documented: {', '.join(sorted(codes))}): {response.text[:300]}")
