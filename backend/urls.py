"""``/api/``: the REST API (and, with ``BACKEND_API_DOCS``, ``/api/schema/``: its OpenAPI 3 schema;
``/api/docs/``: the interactive page: :mod:`kafkaml.services.registry.urls`); everything else: the web UI
when ``BACKEND_UI_DIR`` names a build of it (local mode)."""

from __future__ import annotations

from django.urls import include, path

from backend.ui import ui_urls

urlpatterns = [
    path("api/", include("kafkaml.services.registry.urls")),
    path("api/", include("backend.api.urls")),
    *ui_urls(),
]

handler400 = "kafkaml.services.api.bad_request"
handler404 = "kafkaml.services.api.not_found"
handler500 = "kafkaml.services.api.server_error"
