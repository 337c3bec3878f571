"""Build the user's Keras model from the Python source text they wrote in the platform UI.

Convention (as in the earlier Kafka-ML): the source defines a variable ``model``, a Keras model
with a declared input (``keras.Input(shape=...)``), and either a dict ``compile_args`` — the
keyword arguments of ``model.compile`` — or calls ``model.compile(...)`` itself. It runs in a
fresh namespace where ``tf``/``tensorflow``, ``keras`` and ``np``/``numpy`` are already imported.
The source is code from a platform user: it runs only in :mod:`kafkaml.builder`, a process
that holds no secret, never in a job that holds a key; everything downstream works from the
Keras JSON the builder prints. Everything else users pass (fit/evaluate/compile keyword arguments in
deployment settings) is *data*: parsed as JSON or Python literals, checked against the keys
below, never evaluated.

Each failure has its own exception type, so the backend can tell the user exactly what is wrong
before a training starts. TensorFlow is imported on the first build only, so that validating the
kwargs in job settings (and ``kafkaml config``) stays fast.
"""

from __future__ import annotations

import ast
import json
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

SOURCE_NAME = "<model source>"


class ModelSourceError(ValueError):
    """The model source cannot be turned into a compiled Keras model."""


class _SourceLineError(ModelSourceError):
    def __init__(self, message: str, lineno: int | None) -> None:
        super().__init__(message)
        self.lineno = lineno


class ModelSyntaxError(_SourceLineError):
    """The source is not valid Python; ``lineno`` points at the problem."""


class ModelExecutionError(_SourceLineError):
    """Running the source raised an exception; ``lineno`` is the source line that raised it."""


class MissingModelError(ModelSourceError):
    """The source ran but defined no ``model``."""


class NotAKerasModelError(ModelSourceError):
    """``model`` is something other than a Keras model."""


class ShapeMismatchError(ModelSourceError):
    """The model's input (or output) shape differs from the shape the data declares."""


class CompileError(ModelSourceError):
    """The model could not be compiled with the given arguments."""


class KwargsError(ValueError):
    """Keyword arguments for fit/evaluate/compile with an unknown key or a value of the wrong type."""


def build_model(source: str, *, input_shape: Sequence[int] | None = None,
                output_shape: Sequence[int] | None = None,
                compile_overrides: Mapping[str, Any] | None = None) -> keras.Model:
    """Run ``source`` and return its compiled ``model``.

    ``input_shape``/``output_shape`` are the per-sample shapes the data declares (no batch
    dimension); a ``None`` dimension in the model matches any size. ``compile_overrides``
    (already validated with :func:`validate_kwargs`) replace keys of ``compile_args``, e.g. a
    deployment's choice of optimizer.
    """
    import keras

    namespace = _run(source)
    if "model" not in namespace:
        raise MissingModelError("the model source must define a variable named `model` (a Keras model)")
    model = namespace["model"]
    if not isinstance(model, keras.Model):
        raise NotAKerasModelError(f"`model` must be a Keras model, got {type(model).__name__}")
    _check_shape("input", model, input_shape)
    _check_shape("output", model, output_shape)
    _compile(model, namespace.get("compile_args"), compile_overrides or {})
    return model


def _run(source: str) -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf

    try:
        code = compile(source, SOURCE_NAME, "exec")
    except SyntaxError as exc:
        raise ModelSyntaxError(f"syntax error in the model source, line {exc.lineno}: {exc.msg}", exc.lineno) from None
    namespace: dict[str, Any] = {"__name__": "kafkaml_model_source", "tf": tf, "tensorflow": tf,
                                 "keras": keras, "np": np, "numpy": np}
    try:
        exec(code, namespace)  # the user's own model code; see the module docstring
    except (Exception, SystemExit) as exc:
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == SOURCE_NAME]
        lineno = frames[-1].lineno if frames else None
        raise ModelExecutionError(f"the model source raised {type(exc).__name__} at line {lineno}: {exc}",
                                  lineno) from exc
    return namespace


def _check_shape(which: str, model: keras.Model, declared: Sequence[int] | None) -> None:
    try:
        shape = model.input_shape if which == "input" else model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        raise ShapeMismatchError(f"the model has no defined {which} shape: start it with keras.Input(shape=...)") from None
    if declared is None:
        return
    if isinstance(shape, list) or not isinstance(shape, tuple):
        raise ShapeMismatchError(f"models with several {which}s are not supported, got {which} shape {shape}")
    actual, wanted = tuple(shape[1:]), tuple(declared)
    if len(actual) != len(wanted) or any(a is not None and a != w for a, w in zip(actual, wanted, strict=False)):
        raise ShapeMismatchError(f"the model's {which} shape {actual} does not match the data's {wanted}")


#: Loss/metric names Keras resolves inside ``compile`` only, not through ``keras.*.get``.
_COMPILE_ALIASES = {"acc", "accuracy", "crossentropy", "ce"}


def _compile(model: keras.Model, compile_args: Any, overrides: Mapping[str, Any]) -> None:
    if compile_args is None and not overrides:
        if not getattr(model, "compiled", False):
            raise CompileError("the model is not compiled: define `compile_args = {...}` or call model.compile(...)")
        _resolve_names(getattr(model, "loss", None), [])
        return
    if compile_args is not None and not isinstance(compile_args, Mapping):
        raise CompileError(f"`compile_args` must be a dict, got {type(compile_args).__name__}")
    arguments = {**(compile_args or {}), **overrides}
    try:
        model.compile(**arguments)
    except Exception as exc:
        raise CompileError(f"model.compile failed: {type(exc).__name__}: {exc}") from None
    _resolve_names(arguments.get("loss"), arguments.get("metrics") or [])


def _resolve_names(loss: Any, metrics: Any) -> None:
    """Keras resolves loss and metric names lazily at the first batch; fail now instead."""
    import keras

    checks = [(keras.losses.get, name) for name in _names(loss)]
    checks += [(keras.metrics.get, name) for name in _names(metrics) if name not in _COMPILE_ALIASES]
    for getter, name in checks:
        try:
            getter(name)
        except ValueError as exc:
            raise CompileError(f"model.compile failed: {exc}") from None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [name for item in value for name in _names(item)]
    return []


def _check_int(minimum: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be an integer >= {minimum}")
        return value
    return check


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a name (string)")
    return value


def _check_names(value: Any) -> Any:
    """A name, or a list / dict of names (one per model output)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, list):
            _check_names(item)
        else:
            _check_name(item)
    return value


def _check_verbose(value: Any) -> Any:
    if value not in ("auto", 0, 1, 2) or isinstance(value, bool):
        raise ValueError('must be "auto", 0, 1 or 2')
    return value


def _check_class_weight(value: Any) -> dict[int, float]:
    """JSON object keys are strings: {"0": 1.0, "1": 5.0} → {0: 1.0, 1: 5.0}."""
    if not isinstance(value, dict):
        raise ValueError("must be an object mapping class index to weight")
    try:
        return {int(key): float(weight) for key, weight in value.items()}
    except (TypeError, ValueError):
        raise ValueError("must map integer class indices to numbers") from None


def _check_loss_weights(value: Any) -> Any:
    weights = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    if weights is None or any(isinstance(w, bool) or not isinstance(w, int | float) for w in weights):
        raise ValueError("must be a list or object of numbers")
    return value


def _check_jit(value: Any) -> Any:
    return value if value == "auto" else _check_bool(value)


#: The keyword arguments users may set per call, and how each is checked.
ALLOWED_KWARGS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "fit": {"epochs": _check_int(1), "batch_size": _check_int(1), "shuffle": _check_bool,
            "verbose": _check_verbose, "class_weight": _check_class_weight, "steps_per_epoch": _check_int(1),
            "initial_epoch": _check_int(0), "validation_freq": _check_int(1)},
    "evaluate": {"batch_size": _check_int(1), "verbose": _check_verbose, "steps": _check_int(1)},
    "compile": {"optimizer": _check_name, "loss": _check_names, "metrics": _check_names,
                "loss_weights": _check_loss_weights, "run_eagerly": _check_bool, "jit_compile": _check_jit,
                "steps_per_execution": _check_int(1)},
}


def validate_kwargs(kind: str, value: Any) -> dict[str, Any]:
    """Check user keyword arguments for ``model.<kind>`` and return them ready to pass on."""
    allowed = ALLOWED_KWARGS[kind]
    if not isinstance(value, Mapping):
        raise KwargsError(f"{kind} arguments must be an object of key/value pairs, got {type(value).__name__}")
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key not in allowed:
            raise KwargsError(f"{kind} argument {key!r} is not allowed; allowed: {', '.join(allowed)}")
        try:
            checked[key] = allowed[key](item)
        except ValueError as exc:
            raise KwargsError(f"{kind} argument {key!r}={item!r} {exc}") from None
    return checked


def parse_kwargs(kind: str, text: str) -> dict[str, Any]:
    """Parse and check keyword arguments given as JSON (``{"epochs": 5}``) or, as earlier Kafka-ML
    users wrote them, as Python keywords (``epochs=5, shuffle=True``) whose values must be literals.
    """
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return validate_kwargs(kind, json.loads(text))
        except json.JSONDecodeError as exc:
            raise KwargsError(f"{kind} arguments are not valid JSON: {exc.msg} at position {exc.pos}") from None
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise ValueError
        value = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (SyntaxError, ValueError, TypeError, RecursionError):
        raise KwargsError(f"{kind} arguments must be a JSON object or `key=literal, ...`, got {text!r}") from None
    return validate_kwargs(kind, value)
