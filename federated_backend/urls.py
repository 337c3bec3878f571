"""``/api/``: the REST API (and, with ``BACKEND_API_DOCS``, ``/api/schema/`` and ``/api/docs/``: its
OpenAPI schema and page: :mod:`kafkaml.services.registry.urls`)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("api/", include("kafkaml.services.registry.urls")),
    path("api/", include("federated_backend.api.urls")),
]

handler400 = "kafkaml.services.api.bad_request"
handler404 = "kafkaml.services.api.not_found"
handler500 = "kafkaml.services.api.server_error"
