"""The shared endpoints, under each service's ``/api/``."""

from __future__ import annotations

from django.urls import path

from kafkaml.registry import apis, auth_apis, health_apis

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
]
