"""The model control logger's settings (declared apart, so `kafkaml config` lists them)."""

from __future__ import annotations

from kafkaml.config import Setting, declare
from kafkaml.topics import MODEL_CONTROL_TOPIC

LOGGER = declare(
    "Model control logger",
    Setting("KML_CLOUD_BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform, where models are announced."),
    Setting("MODEL_LOGGER_TOPIC", "Platform topic on which models are announced to clients.",
            default=MODEL_CONTROL_TOPIC),
    Setting("REGISTRY_URL", "The federated backend's announcement registration URL, e.g. "
            "http://federated-backend:8085/api/models/register/."),
    Setting("REGISTRY_TOKEN_FILE", "File holding the API token the logger registers with (a staff user's).",
            kind="path"),
)
