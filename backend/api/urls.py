from __future__ import annotations

from django.urls import path

from backend.api.apis import audits, chain, clients, deployments, inferences, ml_models, results, strategies

urlpatterns = [
    path("models/", ml_models.ModelListApi.as_view()),
    path("models/<int:pk>/", ml_models.ModelDetailApi.as_view()),
    path("configurations/", ml_models.ConfigurationListApi.as_view()),
    path("configurations/<int:pk>/", ml_models.ConfigurationDetailApi.as_view()),
    path("deployments/", deployments.DeploymentListApi.as_view()),
    path("deployments/<int:pk>/", deployments.DeploymentDetailApi.as_view()),
    path("strategies/", strategies.StrategyListApi.as_view()),
    path("results/", results.ResultListApi.as_view()),
    path("results/<int:pk>/", results.ResultDetailApi.as_view()),
    path("results/<int:pk>/rounds/", results.ResultRoundsApi.as_view()),
    path("results/<int:pk>/chart/", results.ResultChartApi.as_view()),
    path("results/<int:pk>/stop/", results.ResultStopApi.as_view()),
    path("results/<int:pk>/model/", results.ResultModelApi.as_view()),
    path("results/<int:pk>/reports/", results.ResultReportApi.as_view()),
    path("results/<int:pk>/chain/", chain.ResultChainApi.as_view()),
    path("results/<int:pk>/audits/", audits.ResultAuditsApi.as_view()),
    path("results/<int:pk>/audits/<int:audit_id>/", audits.AuditVerdictApi.as_view()),
    path("inferences/", inferences.InferenceListApi.as_view()),
    path("inferences/<int:pk>/", inferences.InferenceDetailApi.as_view()),
    path("inferences/<int:pk>/stop/", inferences.InferenceStopApi.as_view()),
    path("inferences/<int:pk>/rollout/", inferences.InferenceRolloutApi.as_view()),
    path("inferences/<int:pk>/predictions/", inferences.InferencePredictionsApi.as_view()),
    path("chain/", chain.ChainStatusApi.as_view()),
    path("clients/", clients.ClientListApi.as_view()),
]
