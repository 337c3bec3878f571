"""The data control logger: a data owner's (or the platform's) data control topic relayed to its
backend, which registers each datasource (``python -m data_control_logger``)."""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("data_control_logger.settings",)
