"""Models: the user's Keras source, built in the background by the secret-free builder.

The backend never runs the source itself. Saving a source checks it at once without executing
anything — its size, and its syntax (``ast.parse``), a 400 naming the line; a 503 when this
platform cannot build safely (its required sandbox cannot be created) — and stores the model as
``building``; the build itself (:mod:`backend.api.services.builds`, through
:func:`kafkaml.builder.build`) runs it in the builder's sandbox (no key, no token, no network, a
read-only view, resource limits; in a cluster a Job of its own) and records the Keras JSON every
later step uses, checked against the platform's size limits (``ready``), or the builder's error
with its line (``failed``). Only a ready model can be deployed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from rest_framework.exceptions import NotFound, ValidationError

from backend.api.errors import ModelBuildFailed
from backend.api.models import MLModel
from backend.api.services import builds
from kafkaml.services.api import Conflict, Unavailable

MAX_SOURCE_CHARACTERS = 200_000


def check_source(source: str) -> None:
    """A 400 for a source that is too large or does not parse (with its line), a 503 when this
    platform cannot build it safely; nothing runs it."""
    if len(source) > MAX_SOURCE_CHARACTERS:
        raise ValidationError({"source": [f"at most {MAX_SOURCE_CHARACTERS} characters"]})
    problem = builds.source_line_error(source)
    if problem is not None:
        message, line = problem
        if line is None:
            raise ValidationError({"source": [message]})
        raise ModelBuildFailed(message, line)
    refusal = builds.refusal()
    if refusal is not None:
        raise Unavailable(refusal)


def _check_name(owner, name: str, exclude: int | None = None) -> None:
    if MLModel.objects.filter(owner=owner, name=name).exclude(pk=exclude).exists():
        raise ValidationError({"name": [f"you already have a model named {name!r}"]})


def _current(model: MLModel) -> MLModel:
    """The model as the database has it now (under the build lock); 404 when it was just deleted."""
    current = MLModel.objects.select_related("owner").filter(pk=model.pk).first()
    if current is None:
        raise NotFound("no such model (it was just deleted)")
    return current


def model_create(*, owner, name: str, description: str, source: str) -> MLModel:
    """Store the model as ``building`` and queue its build (429 over the owner's builds in flight)."""
    check_source(source)
    with transaction.atomic():
        builds.lock()
        _check_name(owner, name)
        builds.admit(owner)
        model = MLModel(owner=owner, name=name, description=description, source=source)
        builds.queue(model)
        model.save()
    builds.wake()
    return model


def model_update(*, model: MLModel, name: str | None = None, description: str | None = None,
                 source: str | None = None) -> MLModel:
    """Rename, redescribe or rebuild a model; its source cannot change while it is being built or
    once a training used it. Only the fields changed here are written: a build finishing meanwhile
    keeps its outcome."""
    rebuild = source is not None and source != model.source
    if rebuild:
        check_source(source)
    with transaction.atomic():
        builds.lock()
        model = _current(model)
        changed = []
        if name is not None and name != model.name:
            _check_name(model.owner, name, exclude=model.pk)
            model.name = name
            changed.append("name")
        if description is not None:
            model.description = description
            changed.append("description")
        if rebuild and source != model.source:
            if model.results.exists():
                raise Conflict("this model was trained already; create a new model for a new source")
            if model.status == MLModel.Status.BUILDING:
                raise Conflict("the model is being built; change its source once it is ready or failed")
            builds.admit(model.owner)
            model.source = source
            changed += ["source", *builds.queue(model)]
        model.save(update_fields=[*changed, "updated_at"])
    if rebuild:
        builds.wake()
    return model


def model_delete(*, model: MLModel) -> None:
    with transaction.atomic():
        builds.lock()
        model = _current(model)
        if model.status == MLModel.Status.BUILDING:
            raise Conflict("the model is being built; delete it once it is ready or failed")
        if model.configurations.exists():
            names = ", ".join(sorted(model.configurations.values_list("name", flat=True)))
            raise Conflict(f"the model is used by configuration(s) {names}; remove it from them first")
        if model.results.exists():
            raise Conflict("the model has training results; delete them first")
        model.delete()


def not_ready(models: Iterable[MLModel]) -> str | None:
    """Why these models cannot be deployed yet (one is building or failed), or None."""
    for model in models:
        if model.status != MLModel.Status.READY:
            return (f"model {model.pk} ({model.name}) is {model.status}: only a model whose build is ready can be "
                    "deployed")
    return None
