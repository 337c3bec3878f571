"""The data control logger's settings (declared apart, so `kafkaml config` lists them)."""

from __future__ import annotations

from kafkaml.config import Setting, declare
from kafkaml.topics import DATA_CONTROL_TOPIC

LOGGER = declare(
    "Data control logger",
    Setting("DATA_BOOTSTRAP_SERVERS", "Kafka bootstrap of the data control topic (the data owner's Kafka)."),
    Setting("DATA_CONTROL_TOPIC", "Topic on which datasources are described (data control messages).",
            default=DATA_CONTROL_TOPIC),
    Setting("REGISTRY_URL", "The backend's datasource registration URL, e.g. "
            "http://backend:8000/api/datasources/register/."),
    Setting("REGISTRY_TOKEN_FILE", "File holding the API token the logger registers with (a staff user's).",
            kind="path"),
)
