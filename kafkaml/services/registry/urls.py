"""The shared endpoints, under each service's ``/api/``: health, sign-in, the datasource registry,
and (``BACKEND_API_DOCS``) the OpenAPI schema, its interactive page and that page's assets, served
by the service itself (drf-spectacular-sidecar): no CDN, nothing a page loads from elsewhere."""

from __future__ import annotations

from pathlib import Path

import drf_spectacular_sidecar
from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kafkaml.services.registry import apis, auth_apis, health_apis

#: Where drf-spectacular-sidecar keeps its files; STATIC_URL (/api/docs/assets/) maps onto it.
SIDECAR_STATIC = Path(drf_spectacular_sidecar.__file__).parent / "static"


def api_docs() -> list:
    """The schema and its page (the split view: its script is a file, as the CSP wants), and the
    Swagger UI files the page loads, only those."""
    if not settings.API_DOCS:
        return []
    anyone = {"authentication_classes": [], "permission_classes": []}
    return [
        path("schema/", SpectacularAPIView.as_view(**anyone), name="schema"),
        path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", **anyone)),
        re_path(r"^docs/assets/(?P<path>drf_spectacular_sidecar/swagger-ui-dist/[\w.-]+)$", serve,
                {"document_root": SIDECAR_STATIC}),
    ]


urlpatterns = [
    path("health/", health_apis.HealthApi.as_view()),
    path("auth/csrf/", auth_apis.CsrfApi.as_view()),
    path("auth/login/", auth_apis.LoginApi.as_view()),
    path("auth/logout/", auth_apis.LogoutApi.as_view()),
    path("auth/token/", auth_apis.TokenApi.as_view()),
    path("auth/me/", auth_apis.MeApi.as_view()),
    path("datasources/", apis.DatasourceListApi.as_view()),
    path("datasources/register/", apis.DatasourceRegisterApi.as_view()),
    path("datasources/register/progress/", apis.DatasourceProgressApi.as_view()),
    path("datasources/rejected/", apis.RejectedListApi.as_view()),
    path("datasources/<int:pk>/", apis.DatasourceDetailApi.as_view()),
    *api_docs(),
]
