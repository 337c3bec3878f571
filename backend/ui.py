"""The built web UI, served by the backend itself in local mode (``BACKEND_UI_DIR``).

A single-page app: a file of the build is served as it is (hashed ``assets/`` for a year, they
never change under one name), every other path outside ``/api/`` gets ``index.html`` so that a
reload or a shared link of ``/results/7`` opens that page. In a cluster nginx does the same
(``docker/nginx``) and this view is not routed.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import re_path
from django.views.static import serve

from backend.api.environment import platform_settings

YEAR_S = 365 * 24 * 3600


def ui(request: HttpRequest, path: str) -> HttpResponse:
    root = platform_settings().ui_dir
    if root is None or not (root / "index.html").is_file():
        raise Http404("no web UI is served here (BACKEND_UI_DIR is not a built UI)")
    try:
        response = serve(request, path, document_root=root) if path else None
    except Http404:
        response = None
    if response is None:
        response = serve(request, "index.html", document_root=root)
        response["Cache-Control"] = "no-cache"
    elif path.startswith("assets/"):
        response["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
    return response


def ui_urls() -> list:
    """The catch-all route, only when a UI directory is configured (else / stays a JSON 404)."""
    return [re_path(r"^(?!api/)(?P<path>.*)$", ui)] if platform_settings().ui_dir is not None else []
