"""The platform backend: the Django REST service people and scripts use to define models, start
federated trainings and follow them. See docs/backend.md."""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("backend.api.environment",)
