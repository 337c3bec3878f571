from __future__ import annotations

from django.urls import path

from federated_backend.api import apis

urlpatterns = [
    path("models/", apis.ModelListApi.as_view()),
    path("models/register/", apis.ModelRegisterApi.as_view()),
    path("models/register/progress/", apis.ModelProgressApi.as_view()),
    path("participations/", apis.ParticipationListApi.as_view()),
    path("participations/<int:pk>/", apis.ParticipationDetailApi.as_view()),
    path("participations/<int:pk>/approve/", apis.ParticipationApproveApi.as_view()),
    path("participations/<int:pk>/decline/", apis.ParticipationDeclineApi.as_view()),
    path("participations/<int:pk>/stop/", apis.ParticipationStopApi.as_view()),
    path("participations/<int:pk>/logs/", apis.ParticipationLogsApi.as_view()),
    path("wallet/", apis.WalletApi.as_view()),
]
