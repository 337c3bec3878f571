"""``/api/``: the REST API; ``/api/schema/``: its OpenAPI 3 schema; ``/api/docs/``: the interactive page."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[],
                                                     permission_classes=[])),
    path("api/", include("kafkaml.registry.urls")),
    path("api/", include("backend.api.urls")),
]

handler400 = "kafkaml.django_api.bad_request"
handler404 = "kafkaml.django_api.not_found"
handler500 = "kafkaml.django_api.server_error"
