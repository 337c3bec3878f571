"""The size of a model is computed from its JSON alone, as Keras would allocate it, and held to the
platform's limits: the computation is checked against real Keras, the limits against forged
descriptions (which are refused without anything being allocated)."""

from __future__ import annotations

import copy
import json
import math
import tracemalloc

import keras
import pytest

from kafkaml.architecture import (
    LAYER_CLASSES,
    ArchitectureError,
    BuiltModel,
    ModelTooLargeError,
    SizeLimits,
    check_size,
)
from kafkaml.builder import PLATFORM_BUILDS, describe
from kafkaml.config import ConfigError
from kafkaml.layer_sizes import SIZERS, WEIGHTLESS, elements, weight_shapes
from kafkaml.model_source import build_model
from kafkaml.toydata import TOY_MODEL_SOURCE

L = keras.layers
LIMITS = SizeLimits(parameters=1_000_000, tensor=500_000)


def sequential(shape: tuple[int, ...], *layers: keras.layers.Layer) -> keras.Model:
    return keras.Sequential([keras.Input(shape=shape), *layers])


def attention_model() -> keras.Model:
    query, value = keras.Input(shape=(5, 8)), keras.Input(shape=(6, 8))
    x = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=7)(query, value)
    x = L.Attention(use_scale=True, score_mode="concat")([x, x])
    x = L.AdditiveAttention()([x, x])
    gated = L.MultiHeadAttention(num_heads=3, key_dim=2, use_gate=True)(query, query)
    return keras.Model([query, value], [x, gated])


MODELS = {
    "dense": lambda: sequential((8,), L.Dense(16), L.Dense(3, use_bias=False)),
    "dense with lora": lambda: sequential((8,), L.Dense(16, lora_rank=2)),
    "einsum dense": lambda: sequential((5, 8), L.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d"),
                                       L.EinsumDense("...b,bc->...c", output_shape=6, bias_axes="c"),
                                       L.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de")),
    "embedding": lambda: sequential((5,), L.Embedding(100, 7)),
    "convolutions 1d": lambda: sequential((20, 4), L.Conv1D(4, 3), L.Conv1D(4, 3, groups=2),
                                          L.SeparableConv1D(4, 3), L.DepthwiseConv1D(3), L.Conv1DTranspose(2, 3)),
    "convolutions 2d": lambda: sequential((12, 12, 3), L.Conv2D(4, (3, 2)), L.Conv2DTranspose(5, 3),
                                          L.SeparableConv2D(6, 3, depth_multiplier=2),
                                          L.DepthwiseConv2D(3, depth_multiplier=3)),
    "channels first": lambda: sequential((3, 12, 12), L.Conv2D(4, 3, data_format="channels_first")),
    "convolutions 3d": lambda: sequential((6, 6, 6, 2), L.Conv3D(3, 2), L.Conv3DTranspose(2, 2)),
    "normalizations": lambda: sequential((6, 4), L.BatchNormalization(), L.LayerNormalization(axis=[1, 2]),
                                         L.GroupNormalization(groups=2), L.UnitNormalization(), L.Normalization(),
                                         L.Normalization(axis=None), L.BatchNormalization(renorm=True, center=False)),
    "prelu": lambda: sequential((6, 4), L.PReLU(shared_axes=[1])),
    "recurrent": lambda: sequential((7, 5), L.LSTM(3, return_sequences=True), L.GRU(4, return_sequences=True),
                                    L.GRU(2, reset_after=False, return_sequences=True), L.SimpleRNN(3,
                                    return_sequences=True), L.RNN(L.GRUCell(3), return_sequences=True),
                                    L.TimeDistributed(L.Dense(4))),
    "convolutional lstm": lambda: sequential((3, 8, 8, 2), L.ConvLSTM2D(4, 3)),
    "convolutional lstm 1d": lambda: sequential((3, 8, 2), L.ConvLSTM1D(4, 3)),
    "nested model": lambda: sequential((8,), sequential((8,), L.Dense(5)), L.Dense(2)),
    "attention": attention_model,
    "the toy model": lambda: build_model(TOY_MODEL_SOURCE),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_the_computed_weights_are_those_keras_makes(name: str) -> None:
    model = MODELS[name]()
    computed = sorted(elements(shape) for _, shape in weight_shapes(json.loads(model.to_json())))
    assert computed == sorted(math.prod(weight.shape) for weight in model.weights)


def test_a_bidirectional_layer_counts_the_copy_keras_builds_too() -> None:
    """Rebuilding it deserialises the wrapped LSTM (built from its build_config) and builds a
    forward and a backward copy: three LSTMs are allocated for the two the model keeps."""
    model = sequential((7, 5), L.Bidirectional(L.LSTM(3)))
    lstm = sequential((7, 5), L.LSTM(3)).count_params()
    computed = sum(elements(shape) for _, shape in weight_shapes(json.loads(model.to_json())))
    assert model.count_params() == 2 * lstm and computed == 3 * lstm


#: Each weightless class with the arguments and input shape(s) to build one.
WEIGHTLESS_EXAMPLES = {
    "Activation": ({"activation": "relu"}, (4,)), "Reshape": ({"target_shape": (2, 2)}, (4,)),
    "Permute": ({"dims": (2, 1)}, (2, 3)), "RepeatVector": ({"n": 2}, (3,)),
    "Cropping1D": ({"cropping": 1}, (5, 2)), "Cropping2D": ({"cropping": 1}, (5, 5, 2)),
    "Cropping3D": ({"cropping": 1}, (4, 4, 4, 1)), "Dropout": ({"rate": 0.1}, (4,)),
    "SpatialDropout1D": ({"rate": 0.1}, (4, 2)), "SpatialDropout2D": ({"rate": 0.1}, (4, 4, 2)),
    "SpatialDropout3D": ({"rate": 0.1}, (3, 3, 3, 2)), "GaussianDropout": ({"rate": 0.1}, (4,)),
    "GaussianNoise": ({"stddev": 0.1}, (4,)), "AlphaDropout": ({"rate": 0.1}, (4,)),
    "Rescaling": ({"scale": 0.5}, (4,)), "Dot": ({"axes": 1}, [(4,), (4,)]),
    **{name: ({}, [(4,), (4,)]) for name in ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
                                             "Minimum")},
    **{f"{kind}{rank}D": ({"pool_size": 2}, (4,) * rank + (2,)) for kind in ("MaxPooling", "AveragePooling")
       for rank in (1, 2, 3)},
    **{f"{kind}{rank}D": ({}, (4,) * rank + (2,)) for kind in ("UpSampling", "ZeroPadding", "GlobalMaxPooling",
                                                              "GlobalAveragePooling") for rank in (1, 2, 3)},
    **{name: ({}, (4, 2)) for name in ("Masking", "Identity", "Flatten", "ActivityRegularization",
                                       "UnitNormalization", "ReLU", "LeakyReLU", "ELU", "Softmax")},
}


def test_every_allow_listed_layer_is_sized_or_known_weightless() -> None:
    assert set(SIZERS) | WEIGHTLESS == LAYER_CLASSES and not set(SIZERS) & WEIGHTLESS
    assert set(WEIGHTLESS_EXAMPLES) == WEIGHTLESS - {"InputLayer"}
    for name, (arguments, shape) in WEIGHTLESS_EXAMPLES.items():
        layer = getattr(L, name)(**arguments)
        layer([keras.Input(shape=s) for s in shape] if isinstance(shape, list) else keras.Input(shape=shape))
        assert layer.weights == [], f"{name} has weights: it needs a sizer"


# --- forged descriptions ------------------------------------------------------------------------------


def toy_description() -> dict:
    return json.loads(describe(build_model(TOY_MODEL_SOURCE)).to_json())


def forged(edit) -> BuiltModel:
    description = toy_description()
    architecture = json.loads(description["architecture"])
    edit(description, architecture)
    description["architecture"] = json.dumps(architecture)
    return BuiltModel.from_json(json.dumps(description))


def dense(architecture: dict, index: int) -> dict:
    return [layer for layer in architecture["config"]["layers"] if layer["class_name"] == "Dense"][index]


def giant_dense(description: dict, architecture: dict) -> None:
    """A Dense of 10^6 x 10^6 (4 TB of float32) that declares the toy model's weights."""
    layer = dense(architecture, 0)
    layer["config"]["units"] = 10**6
    layer["build_config"]["input_shape"] = [None, 10**6]


def test_a_forged_giant_dense_is_refused_without_allocating_it() -> None:
    built = forged(giant_dense)
    tracemalloc.start()
    try:
        with pytest.raises(ModelTooLargeError, match=r"shape \[1000000, 1000000\] .* more than the 500000 per tensor"):
            check_size(built, LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"checking the size allocated {peak} bytes"


def test_the_toy_model_is_within_the_limits() -> None:
    check_size(forged(lambda description, architecture: None), LIMITS)


@pytest.mark.parametrize("edit, problem", [
    (lambda d, a: dense(a, 0).pop("build_config"), "has weights but no build_config"),
    (lambda d, a: dense(a, 0)["config"].update(units="16"), "cannot be sized"),
    (lambda d, a: dense(a, 0)["build_config"].update(input_shape=[None, None]), "cannot be sized"),
    (lambda d, a: d.update(parameters=1), "declares 1 parameters but weights of 195"),
    (lambda d, a: d["weights"].append({"shape": [1000, 1000], "dtype": "float32"}), "declares 195 parameters"),
])
def test_a_description_that_cannot_be_sized_or_does_not_add_up_is_refused(edit, problem: str) -> None:
    with pytest.raises(ArchitectureError, match=problem):
        check_size(forged(edit), LIMITS)


def test_declared_weights_are_held_to_the_limits_too() -> None:
    def huge_declared(description: dict, architecture: dict) -> None:
        description["weights"].append({"shape": [1000, 1000], "dtype": "float32"})
        description["parameters"] += 1000 * 1000

    with pytest.raises(ModelTooLargeError, match=r"weight 4 has a tensor of shape \[1000, 1000\]"):
        check_size(forged(huge_declared), LIMITS)


def test_many_tensors_each_within_the_limit_are_refused_in_total() -> None:
    def wide_and_deep(description: dict, architecture: dict) -> None:
        layers = architecture["config"]["layers"]
        template = dense(architecture, 0)
        for index in range(7):  # seven 400 x 400 Dense layers: 160 400 parameters each, 1 122 800 in all
            layer = copy.deepcopy(template)
            layer["config"].update(name=f"wide_{index}", units=400)
            layer["build_config"]["input_shape"] = [None, 400]
            layers.insert(1, layer)

    with pytest.raises(ModelTooLargeError, match=r"the model has \d+ parameters, more than the 1000000"):
        check_size(forged(wide_and_deep), LIMITS)


def test_a_giant_layer_inside_a_wrapper_is_refused() -> None:
    def wrapped(description: dict, architecture: dict) -> None:
        layer = dense(architecture, 0)
        inner = copy.deepcopy(layer)
        inner.pop("build_config")
        inner["config"]["units"] = 10**6
        layer.update(class_name="TimeDistributed", config={"name": "wrapper", "layer": inner})
        layer["build_config"]["input_shape"] = [None, 5, 10**6]

    with pytest.raises(ModelTooLargeError, match="wrapper/dense"):
        check_size(forged(wrapped), LIMITS)


def test_the_platform_limits_are_settings() -> None:
    with pytest.raises(ConfigError, match="MODEL_MAX_PARAMETERS"):
        PLATFORM_BUILDS.load({"MODEL_MAX_PARAMETERS": "0"})
    with pytest.raises(ConfigError, match="BUILDER_SANDBOX='maybe' must be one of: required, off"):
        PLATFORM_BUILDS.load({"BUILDER_SANDBOX": "maybe"})
