"""Building the user's Keras model from source text (real TensorFlow, tiny models) and user kwargs."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml.model_source import (
    CompileError,
    KwargsError,
    MissingModelError,
    ModelExecutionError,
    ModelSyntaxError,
    NotAKerasModelError,
    ShapeMismatchError,
    build_model,
    parse_kwargs,
    validate_kwargs,
)

MODEL = """
model = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(3, activation="softmax"),
])
"""
COMPILE = """
compile_args = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
"""


def test_model_with_compile_args_builds_and_trains() -> None:
    model = build_model(MODEL + COMPILE, input_shape=(4,), output_shape=[3])
    assert model.compiled and model.input_shape == (None, 4)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    history = model.fit(x, np.arange(16) % 3, **validate_kwargs("fit", {"epochs": 1, "batch_size": 8, "verbose": 0}))
    assert np.isfinite(history.history["loss"][0])


def test_model_compiled_by_the_source_itself_is_accepted_and_overrides_apply() -> None:
    source = MODEL + 'import numpy\nmodel.compile(optimizer="sgd", loss="mse")\nassert np is numpy\n'
    assert type(build_model(source).optimizer).__name__ == "SGD"
    overridden = build_model(MODEL + COMPILE, compile_overrides=validate_kwargs("compile", {"optimizer": "sgd"}))
    assert type(overridden.optimizer).__name__ == "SGD"


def test_none_dimensions_match_any_declared_size() -> None:
    source = "model = keras.Sequential([keras.Input(shape=(None, 2)), keras.layers.Dense(1)])\n" + COMPILE
    assert build_model(source, input_shape=(7, 2)).input_shape == (None, None, 2)


def test_syntax_error_reports_its_line() -> None:
    with pytest.raises(ModelSyntaxError, match="line 3") as caught:
        build_model("import keras\n\nmodel = keras.Sequential([\n")
    assert caught.value.lineno == 3


def test_exception_while_running_reports_its_line() -> None:
    with pytest.raises(ModelExecutionError, match="ZeroDivisionError at line 2") as caught:
        build_model("x = 1\ny = x / 0\n")
    assert caught.value.lineno == 2
    with pytest.raises(ModelExecutionError, match="SystemExit"):
        build_model("raise SystemExit(3)\n")


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("net = 1\n", MissingModelError, "define a variable named `model`"),
        ("model = 42\n", NotAKerasModelError, "got int"),
        ("model = keras.Sequential([keras.layers.Dense(1)])\n" + COMPILE, ShapeMismatchError, "keras.Input"),
        (MODEL, CompileError, "not compiled"),
        (MODEL + "compile_args = ['adam']\n", CompileError, "must be a dict"),
        (MODEL + 'compile_args = {"optimizer": "nope", "loss": "mse"}\n', CompileError, "optimizer"),
        (MODEL + 'compile_args = {"optimizer": "adam", "loss": "nope"}\n', CompileError, "loss identifier"),
        (MODEL + 'compile_args = {"optimizer": "adam", "loss": "mse", "metrics": ["nope"]}\n', CompileError, "metric"),
        (MODEL + 'compile_args = {"optimizer": "adam", "loss": "mse", "foo": 1}\n', CompileError, "foo"),
        (MODEL + 'model.compile(optimizer="adam", loss="nope")\n', CompileError, "loss identifier"),
    ],
)
def test_bad_sources_give_typed_errors(source: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build_model(source)


def test_shapes_that_differ_from_the_data_are_refused() -> None:
    with pytest.raises(ShapeMismatchError, match=r"input shape \(4,\) does not match the data's \(5,\)"):
        build_model(MODEL + COMPILE, input_shape=(5,))
    with pytest.raises(ShapeMismatchError, match="output shape"):
        build_model(MODEL + COMPILE, input_shape=(4,), output_shape=(2,))
    with pytest.raises(ShapeMismatchError):
        build_model(MODEL + COMPILE, input_shape=(4, 1))


def test_every_build_starts_from_a_fresh_namespace() -> None:
    build_model(MODEL + COMPILE)
    with pytest.raises(CompileError, match="not compiled"):
        build_model(MODEL)  # the previous compile_args must not leak


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("fit", {"callbacks": []}, "'callbacks' is not allowed"),
        ("fit", {"epochs": 0}, "integer >= 1"),
        ("fit", {"epochs": "5"}, "integer >= 1"),
        ("fit", {"shuffle": 1}, "true or false"),
        ("fit", {"verbose": 3}, "verbose"),
        ("fit", {"class_weight": {"a": 1}}, "integer class indices"),
        ("evaluate", {"epochs": 2}, "'epochs' is not allowed"),
        ("compile", {"loss": 3}, "must be a name"),
        ("compile", {"loss_weights": [1, "x"]}, "numbers"),
        ("fit", [("epochs", 1)], "must be an object"),
    ],
)
def test_bad_kwargs_are_refused_with_the_key(kind: str, value: object, message: str) -> None:
    with pytest.raises(KwargsError, match=message):
        validate_kwargs(kind, value)


def test_kwargs_parse_from_json_or_the_earlier_keyword_form() -> None:
    assert parse_kwargs("fit", '{"epochs": 2, "class_weight": {"0": 1, "1": 4.5}}') == \
        {"epochs": 2, "class_weight": {0: 1.0, 1: 4.5}}
    assert parse_kwargs("fit", "epochs=3, shuffle=True, verbose='auto'") == \
        {"epochs": 3, "shuffle": True, "verbose": "auto"}
    assert parse_kwargs("evaluate", "  ") == {}
    assert validate_kwargs("compile", {"loss": {"out": "mse"}, "metrics": ["accuracy"], "jit_compile": "auto"})


@pytest.mark.parametrize(
    "text",
    ["epochs=__import__('os').system('touch /tmp/kafkaml-pwned')", "5", "**{'epochs': 1}", "epochs=", "{bad json"],
)
def test_kwargs_text_is_never_evaluated(text: str) -> None:
    with pytest.raises(KwargsError):
        parse_kwargs("fit", text)
