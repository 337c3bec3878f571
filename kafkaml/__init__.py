"""Kafka-ML Federated + Blockchain: the shared core library and the ``kafkaml`` CLI."""

__version__ = "0.1.0"

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("kafkaml.config",
                    "kafkaml.faults",
                    "kafkaml.jobs.settings",
                    "kafkaml.ledger.transactions",
                    "kafkaml.cli.platform",
                    "kafkaml.services.settings",
                    "kafkaml.builder")
