"""Models: the user's Keras source, built once in the secret-free builder process.

The backend never runs the source itself. A syntax check (``ast.parse``: parsing executes
nothing) answers the common mistake at once with its line; anything that parses goes to
:func:`kafkaml.builder.build`, which runs it in the builder's sandbox (no key, no token, no
network, a read-only view, resource limits; a machine that cannot create the sandbox refuses the
build unless ``BUILDER_SANDBOX=off``) and returns the Keras JSON every later step uses, checked
against the platform's size limits. In a cluster, where a pod cannot create namespaces, the
builder is a Job of its own (no Secret but the source, no service-account token): its pod is the
sandbox.
"""

from __future__ import annotations

import ast

from django.db import transaction
from rest_framework.exceptions import ValidationError

from backend.api.environment import platform
from backend.api.errors import ModelBuildFailed
from backend.api.models import MLModel
from backend.api.services import jobs
from kafkaml.architecture import BuiltModel
from kafkaml.builder import BuilderJobs, BuilderUnavailableError, build
from kafkaml.django_api import Conflict, Unavailable
from kafkaml.model_source import ModelSourceError

MAX_SOURCE_CHARACTERS = 200_000


def model_build(*, source: str) -> BuiltModel:
    """The builder's description of ``source``; a 400 naming the line on any build error."""
    if len(source) > MAX_SOURCE_CHARACTERS:
        raise ValidationError({"source": [f"at most {MAX_SOURCE_CHARACTERS} characters"]})
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise ModelBuildFailed(f"syntax error in the model source, line {exc.lineno}: {exc.msg}", exc.lineno) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ValidationError({"source": [f"the model source cannot be parsed: {type(exc).__name__}"]}) from None
    settings = platform()
    builder_jobs = BuilderJobs(jobs.launcher(), settings.job_image, settings.job_service_account, jobs.OWNER) \
        if settings.launcher == "kubernetes" else None  # a pod cannot make the sandbox's namespaces
    try:
        return build(source, jobs=builder_jobs, hidden_paths=[settings.run_dir])
    except ModelSourceError as exc:
        raise ModelBuildFailed(str(exc), getattr(exc, "lineno", None)) from None
    except BuilderUnavailableError as exc:
        raise Unavailable(str(exc)) from None


def _store(model: MLModel, built: BuiltModel) -> None:
    model.description_json = built.to_json()
    model.parameters = built.parameters
    model.input_shape = list(built.input_shape)
    model.output_shape = list(built.output_shape)
    model.layers = [{"name": layer.name, "class": layer.class_name, "parameters": layer.parameters,
                     "output_shape": None if layer.output_shape is None else list(layer.output_shape)}
                    for layer in built.layers]


def _check_name(owner, name: str, exclude: int | None = None) -> None:
    if MLModel.objects.filter(owner=owner, name=name).exclude(pk=exclude).exists():
        raise ValidationError({"name": [f"you already have a model named {name!r}"]})


def model_create(*, owner, name: str, description: str, source: str) -> MLModel:
    _check_name(owner, name)
    model = MLModel(owner=owner, name=name, description=description, source=source)
    _store(model, model_build(source=source))
    model.save()
    return model


@transaction.atomic
def model_update(*, model: MLModel, name: str | None = None, description: str | None = None,
                 source: str | None = None) -> MLModel:
    """Rename, redescribe or rebuild a model; its source cannot change while a training uses it."""
    if name is not None:
        _check_name(model.owner, name, exclude=model.pk)
        model.name = name
    if description is not None:
        model.description = description
    if source is not None and source != model.source:
        if model.results.exists():
            raise Conflict("this model was trained already; create a new model for a new source")
        _store(model, model_build(source=source))
        model.source = source
    model.save()
    return model


def model_delete(*, model: MLModel) -> None:
    if model.configurations.exists():
        names = ", ".join(sorted(model.configurations.values_list("name", flat=True)))
        raise Conflict(f"the model is used by configuration(s) {names}; remove it from them first")
    if model.results.exists():
        raise Conflict("the model has training results; delete them first")
    model.delete()
