"""Configurations: named sets of a user's models."""

from __future__ import annotations

from django.db import transaction
from rest_framework.exceptions import ValidationError

from backend.api.models import Configuration, MLModel
from kafkaml.services.api import Conflict


@transaction.atomic
def configuration_create(*, owner, name: str, description: str, ml_models: list[MLModel]) -> Configuration:
    if Configuration.objects.filter(owner=owner, name=name).exists():
        raise ValidationError({"name": [f"you already have a configuration named {name!r}"]})
    configuration = Configuration.objects.create(owner=owner, name=name, description=description)
    configuration.ml_models.set(ml_models)
    return configuration


def configuration_delete(*, configuration: Configuration) -> None:
    if configuration.deployments.exists():
        raise Conflict("the configuration has deployments; delete them first")
    configuration.delete()
