from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "backend.api"
    label = "platform"
    verbose_name = "Kafka-ML platform"

    def ready(self) -> None:
        from backend.api import schema  # noqa: F401 (registers the OpenAPI extension)
        from backend.api.environment import quotas

        quotas()  # a quota that does not parse stops the backend now, with the variable's name
