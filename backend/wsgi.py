"""The WSGI application gunicorn serves (``gunicorn backend.wsgi``).

The URLconf is loaded here, not at the first request, and Python's default recursion limit is
restored after it: the views import ``kafkaml.ledger``, hence web3 and ``py_ecc``, and ``py_ecc``
raises the limit to 100,000 when imported. With that limit a deeply nested JSON body made the C
parser overflow a request thread's stack (SIGSEGV, the worker killed) instead of raising
RecursionError, which the JSON parser turns into a 400.
"""

from __future__ import annotations

import os
import sys

from django.core.wsgi import get_wsgi_application

RECURSION_LIMIT = 1000  # CPython's default

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
application = get_wsgi_application()


def _load_urls() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module now)


_load_urls()
sys.setrecursionlimit(RECURSION_LIMIT)
