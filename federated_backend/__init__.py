"""The federated backend: one per data owner (a vehicle, a hospital, a plant), beside its own
Kafka. It knows the owner's datasources and the models the platform announced, proposes a
participation for every model × datasource that fits, and starts a trainer job for each one the
owner's site policy lets train. See docs/federated-client.md."""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("federated_backend.api.environment",)
