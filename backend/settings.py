"""Django settings of the platform backend: the settings every Django service of the project
shares (:mod:`kafkaml.services.settings`: declared variables only, secure defaults), for this app."""

from __future__ import annotations

from kafkaml.builder import PLATFORM_BUILDS
from kafkaml.services.settings import service_settings

PLATFORM_BUILDS.load()  # a wrong builder setting stops the backend at start, not at its first build

globals().update(service_settings(
    app="backend.api", urlconf="backend.urls", wsgi="backend.wsgi.application", database_file="platform.sqlite3",
    files_dir="platform-files", title="Kafka-ML Federated + Blockchain platform API",
    description="Models, configurations, deployments of federated trainings, their results, datasources and the "
                "platform's contracts.",
))
#: The reconciler's pass (kafkaml.services.reconciler): failed aggregator jobs and ended audit jobs.
RECONCILE_STEP = "backend.api.services.reconcile.reconcile"
