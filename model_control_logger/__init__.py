"""The model control logger: the platform's model control topic relayed, as a broadcast, to this
client's federated backend, which keeps the announcements it can trust
(``python -m model_control_logger``)."""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("model_control_logger.settings",)
