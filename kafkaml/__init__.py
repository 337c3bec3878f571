"""Kafka-ML Federated + Blockchain: the shared core library and the ``kafkaml`` CLI."""

__version__ = "0.1.0"
