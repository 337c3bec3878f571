"""``/api/``: the REST API; ``/api/schema/``: its OpenAPI 3 schema; ``/api/docs/``: the interactive page."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[],
                                                     permission_classes=[])),
    path("api/", include("backend.api.urls")),
]

handler400 = "backend.api.errors.bad_request"
handler404 = "backend.api.errors.not_found"
handler500 = "backend.api.errors.server_error"
