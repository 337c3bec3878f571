from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kafkaml.services.registry"
    label = "registry"
    verbose_name = "Datasource registry"

    def ready(self) -> None:
        from kafkaml.services.registry import schema  # noqa: F401 (registers the OpenAPI extension)
