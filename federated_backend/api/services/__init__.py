"""Writes of the federated backend: announcements, participations, trainer jobs."""
