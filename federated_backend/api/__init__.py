"""The federated backend's app: announced models, participations, trainer jobs."""
