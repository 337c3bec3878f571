"""The allow-list of Keras classes and the one rebuild from JSON (real Keras, tiny models)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kafkaml.architecture import (
    LAYER_CLASSES,
    MAX_ARCHITECTURE_BYTES,
    ArchitectureError,
    check_architecture,
    check_compile_config,
    rebuild,
)
from kafkaml.model_source import build_model
from kafkaml.toydata import TOY_MODEL_SOURCE, toy_blobs
from kafkaml.usecases.rat.model import model_source as rat_source


def test_every_allowed_layer_is_a_keras_layer() -> None:
    for name in LAYER_CLASSES:
        assert issubclass(getattr(keras.layers, name), keras.layers.Layer), name


@pytest.mark.parametrize("source", [TOY_MODEL_SOURCE, rat_source(window=16)])
def test_the_workloads_rebuild_to_the_same_model(source: str) -> None:
    model = build_model(source)
    rebuilt = rebuild(model.to_json(), model.get_compile_config())
    assert rebuilt.to_json() == model.to_json()
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    assert rebuilt.compiled and rebuilt.loss == model.loss


def test_a_functional_model_with_a_nested_model_and_merges_is_accepted() -> None:
    inputs = keras.Input(shape=(4,))
    inner = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)], name="inner")
    x = inner(inputs)
    y = keras.layers.Dense(2, activation=keras.activations.relu)(x)
    model = keras.Model(inputs, keras.layers.Concatenate()([x, y]))
    model.compile(optimizer="adam", loss=keras.losses.mean_squared_error, metrics=[keras.metrics.MeanAbsoluteError()])
    rebuilt = rebuild(model.to_json(), model.get_compile_config())
    assert rebuilt.output_shape == (None, 5)


def lambda_model(nested: bool) -> keras.Model:
    doubled = keras.layers.Lambda(lambda t: t * 2, name="doubler")
    if nested:
        doubled = keras.Sequential([keras.Input(shape=(4,)), doubled], name="inner")
    model = keras.Sequential([keras.Input(shape=(4,)), doubled, keras.layers.Dense(2)], name="outer")
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("nested, where", [(False, "outer/doubler"), (True, "outer/inner/doubler")])
def test_a_lambda_layer_is_refused_with_its_place(nested: bool, where: str) -> None:
    model = lambda_model(nested)
    with pytest.raises(ArchitectureError, match=f"'Lambda' .* at {where} is not allowed: it carries Python code"):
        rebuild(model.to_json(), model.get_compile_config())


def test_a_lambda_activation_is_refused() -> None:
    """Keras writes a lambda activation as bare bytecode (no class name); safe mode refuses it."""
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation=lambda t: t)], name="m")
    with pytest.raises(ArchitectureError, match="cannot be rebuilt"):
        rebuild(model.to_json(), model.get_compile_config())
    config = json.loads(model.to_json())
    config["config"]["layers"][1]["config"]["activation"] = {"class_name": "__lambda__", "config": {"code": "AA=="}}
    with pytest.raises(ArchitectureError, match="'__lambda__' .* carries Python code"):
        check_architecture(json.dumps(config))


def test_a_custom_layer_is_refused() -> None:
    @keras.saving.register_keras_serializable(package="evil")
    class Spy(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    model = keras.Sequential([keras.Input(shape=(4,)), Spy(name="spy")], name="m")
    with pytest.raises(ArchitectureError, match="'Spy' .* at m/spy"):
        check_architecture(model.to_json())


def toy_json() -> dict:
    model = build_model(TOY_MODEL_SOURCE)
    return json.loads(model.to_json())


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c["config"]["layers"][1].update(module="os", class_name="system"), "'system' .*module 'os'"),
    (lambda c: c["config"]["layers"][1].update(class_name="TFSMLayer"), "'TFSMLayer' .* not an allow-listed Keras layer"),
    (lambda c: c["config"]["layers"][1].update(class_name="TFOpLambda"), "'TFOpLambda' .* carries Python code"),
    (lambda c: c["config"]["layers"][1].update(module="keras.src.layers.core.dense"), "must come from keras.layers"),
    (lambda c: c["config"]["layers"][1].update(registered_name="evil>Dense"), "custom object"),
    (lambda c: c["config"]["layers"][1]["config"].update(kernel_initializer={
        "module": "keras.src.saving.saving_lib", "class_name": "load_model", "config": {}, "registered_name": None}),
     "'load_model'"),
    (lambda c: c["config"]["layers"][1]["config"].update(activation={
        "module": "keras.optimizers", "class_name": "function", "config": "deserialize", "registered_name": "function"}),
     "function 'deserialize'"),
    (lambda c: c.update(class_name="Dense", module="keras.layers"), "must describe a Keras model"),
    (lambda c: c.update(module="evil"), "model class 'Sequential' .* not Keras' own"),
])
def test_objects_outside_the_allow_list_are_refused(edit, problem) -> None:
    config = toy_json()
    edit(config)
    with pytest.raises(ArchitectureError, match=problem):
        check_architecture(json.dumps(config))


def test_size_and_depth_are_bounded() -> None:
    with pytest.raises(ArchitectureError, match="more than the"):
        check_architecture(" " * (MAX_ARCHITECTURE_BYTES + 1))
    config = toy_json()
    deep: dict = {}
    config["config"]["layers"][1]["config"]["name_scope"] = deep
    for _ in range(100):
        deep["x"] = deep = {}
    with pytest.raises(ArchitectureError, match="deeper than"):
        check_architecture(json.dumps(config))


def test_a_custom_loss_in_the_compile_config_is_refused() -> None:
    config = build_model(TOY_MODEL_SOURCE).get_compile_config()
    config["loss"] = {"module": "evil.losses", "class_name": "Steal", "config": {}, "registered_name": "evil>Steal"}
    with pytest.raises(ArchitectureError, match="custom object"):
        check_compile_config(config)


def test_the_rebuilt_model_trains() -> None:
    """The rebuilt model keeps its optimizer and loss: a few epochs on the toy task move every
    weight array and lower the loss, which stays finite."""
    keras.utils.set_random_seed(3)
    model = build_model(TOY_MODEL_SOURCE)
    rebuilt = rebuild(model.to_json(), model.get_compile_config())
    x, y = toy_blobs(128, seed=3)
    before = [w.copy() for w in rebuilt.get_weights()]
    loss_before = rebuilt.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    losses = rebuilt.fit(x, y, epochs=3, batch_size=32, verbose=0).history["loss"]
    loss_after = rebuilt.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert all(np.isfinite([loss_before, *losses, loss_after])), (loss_before, losses, loss_after)
    assert loss_after < 0.5 * loss_before, (loss_before, losses, loss_after)
    assert all(not np.array_equal(old, new) for old, new in zip(before, rebuilt.get_weights(), strict=True))
