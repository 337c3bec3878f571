"""Django settings of a federated backend: the settings every Django service of the project
shares (:mod:`kafkaml.services.settings`), for this app."""

from __future__ import annotations

from kafkaml.services.settings import service_settings

globals().update(service_settings(
    app="federated_backend.api", urlconf="federated_backend.urls", wsgi="federated_backend.wsgi.application",
    database_file="federated.sqlite3", files_dir="federated-files",
    title="Kafka-ML Federated client API",
    description="A data owner's datasources, the models the platform announced, and its participations.",
))
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {  # noqa: F821 (set by service_settings above)
    "AnnouncedModelState": "federated_backend.api.models.AnnouncedModel.State",
    "ParticipationState": "federated_backend.api.models.Participation.State",
}
#: Called with each newly registered datasource (kafkaml.services.registry): it may match announced models.
REGISTRY_DATASOURCE_HOOK = "federated_backend.api.services.participations.datasource_arrived"
#: The reconciler's pass (kafkaml.services.reconciler): ended trainers are read from the launcher and
#: approved participations start in the slots they freed, whether or not anyone asks.
RECONCILE_STEP = "federated_backend.api.services.participations.schedule"
