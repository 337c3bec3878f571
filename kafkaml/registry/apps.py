from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kafkaml.registry"
    label = "registry"
    verbose_name = "Datasource registry"

    def ready(self) -> None:
        from kafkaml.registry import schema  # noqa: F401 (registers the OpenAPI extension)
