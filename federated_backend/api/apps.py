from __future__ import annotations

from django.apps import AppConfig


class FederatedConfig(AppConfig):
    name = "federated_backend.api"
    label = "federated"
    verbose_name = "Kafka-ML federated client"
