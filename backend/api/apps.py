from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "backend.api"
    label = "platform"
    verbose_name = "Kafka-ML platform"
