"""The model as data: a checked Keras JSON architecture, and the one way to turn it into a model.

The user's Python source is run once, by :mod:`kafkaml.builder` (a process without secrets);
from then on the aggregator, the clients and the audit rebuild the model from the builder's
Keras JSON. Keras' own ``safe_mode`` refuses serialised Python lambdas, but it still resolves
any class registered in the process and imports ``keras.*`` modules by name, and a hostile
announcement could name a ``Lambda`` layer or a custom object a client happens to have
registered. So before Keras sees the JSON, :func:`check_architecture` walks it (nested models
included) and accepts only:

* layer classes of :data:`LAYER_CLASSES` in ``keras.layers`` and the model classes of
  :data:`MODEL_CLASSES`;
* the objects layers and compile configurations hold (initializers, regularizers, constraints,
  optimizers, losses, metrics, dtype policies) from Keras' public modules of
  :data:`SUPPORT_MODULES`, built-in functions by name only;
* Keras' encodings of plain values (tuples, tensors in functional graphs, arrays);

and refuses everything else (``Lambda``, ``TFOpLambda``, serialised code, any ``registered_name``
of a custom object, unknown modules or classes) with an :class:`ArchitectureError` that names
the class and where it sits. The size of the JSON is bounded before it is parsed.

The builder's answer comes from a process that ran user code, which can write any answer it
likes, so whoever receives it checks it again: :func:`check_size` holds a description to the
platform's :class:`SizeLimits`, both the weights it declares and the weights its architecture
would make Keras allocate (:mod:`kafkaml.layer_sizes`, computed from the JSON without building it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkaml.layer_sizes import LayerSizeError, elements, weight_shapes
from kafkaml.weights.codec import WeightSpec

if TYPE_CHECKING:
    import keras

#: Largest architecture JSON accepted (the paper's CNN is ~12 KB; a huge one is an attack).
MAX_ARCHITECTURE_BYTES = 2 * 1024 * 1024
#: Largest builder output (the architecture plus compile configuration, layer list and weight shapes).
MAX_DESCRIPTION_BYTES = 2 * MAX_ARCHITECTURE_BYTES
#: Deepest JSON nesting walked (a Keras model nests a few levels per sub-model).
MAX_DEPTH = 64

#: The built-in Keras layers a model may use: none of them carries code.
LAYER_CLASSES = frozenset({
    # core
    "InputLayer", "Dense", "EinsumDense", "Activation", "Embedding", "Masking", "Identity",
    # convolution
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    # pooling
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    # reshaping
    "Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    # regularisation
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
    "GaussianNoise", "AlphaDropout", "ActivityRegularization",
    # normalisation
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "Normalization", "Rescaling",
    # activations
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    # recurrent
    "LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "RNN", "Bidirectional",
    "TimeDistributed", "ConvLSTM1D", "ConvLSTM2D",
    # merging
    "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot",
    # attention
    "Attention", "AdditiveAttention", "MultiHeadAttention",
})
#: Model classes, with the modules Keras writes for them.
MODEL_CLASSES: dict[str, frozenset[str]] = {
    "Sequential": frozenset({"keras", "keras.models"}),
    "Functional": frozenset({"keras", "keras.models", "keras.src.models.functional"}),
    "Model": frozenset({"keras", "keras.models"}),
}
#: Keras' public modules of the non-layer objects a layer or compile configuration holds.
SUPPORT_MODULES = frozenset({
    "keras.initializers", "keras.regularizers", "keras.constraints", "keras.optimizers",
    "keras.optimizers.schedules", "keras.losses", "keras.metrics", "keras.activations",
    "keras.dtype_policies",
})
#: Classes Keras writes with the bare ``keras`` module besides the models.
KERAS_MODULE_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})
#: Keras' encodings of values JSON lacks; all plain data.
VALUE_ENCODINGS = frozenset({"__tuple__", "__keras_tensor__", "__numpy__"})
#: Modules whose built-in functions may be named (``builtins`` is Keras' tag for those).
FUNCTION_MODULES = frozenset({"builtins", "keras.activations", "keras.losses", "keras.metrics"})
#: Public names of those modules that are not modelling functions.
_NOT_MODELLING = frozenset({"get", "serialize", "deserialize"})
_CODE_CLASSES = frozenset({"Lambda", "TFOpLambda", "__lambda__"})
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ArchitectureError(ValueError):
    """The architecture (or compile configuration) is not an allow-listed Keras model, or cannot be rebuilt."""


def check_architecture(architecture: str | bytes) -> dict[str, Any]:
    """The parsed Keras JSON of ``architecture`` once every object in it is allow-listed."""
    size = len(architecture.encode() if isinstance(architecture, str) else architecture)
    if size > MAX_ARCHITECTURE_BYTES:
        raise ArchitectureError(f"the architecture is {size} bytes, more than the {MAX_ARCHITECTURE_BYTES} allowed")
    try:
        config = json.loads(architecture)
    except (ValueError, RecursionError) as exc:
        raise ArchitectureError(f"the architecture is not JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ArchitectureError(f"the architecture must describe a Keras model ({', '.join(MODEL_CLASSES)}), "
                                f"got {found!r}")
    _walk(config, [], 0)
    return config


def check_compile_config(compile_config: Any) -> dict[str, Any]:
    """``compile_config`` (Keras' ``get_compile_config()``) once every object in it is allow-listed."""
    if not isinstance(compile_config, Mapping):
        raise ArchitectureError(f"the compile configuration must be an object, got {type(compile_config).__name__}")
    _walk(compile_config, ["compile config"], 0)
    return dict(compile_config)


def rebuild(architecture: str, compile_config: Mapping[str, Any]) -> keras.Model:
    """The compiled model of a checked ``architecture`` and ``compile_config``, deserialised in
    Keras' safe mode (the allow-list first, Keras' own refusal of code second)."""
    import keras

    config = check_architecture(architecture)
    compile_config = check_compile_config(compile_config)
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a description it cannot rebuild
        raise ArchitectureError(f"the architecture cannot be rebuilt: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise ArchitectureError(f"the architecture rebuilds a {type(model).__name__}, not a Keras model")
    try:
        model.compile_from_config(compile_config)
    except Exception as exc:
        raise ArchitectureError(f"the compile configuration is unusable: {type(exc).__name__}: {exc}") from None
    return model


def check_input_shape(model: tuple[int | None, ...], data: tuple[int, ...]) -> None:
    """The model must take the data's samples (a ``None`` dimension takes any size)."""
    if len(model) != len(data) or any(m is not None and m != d for m, d in zip(model, data, strict=False)):
        raise ArchitectureError(f"the model's input shape {model} does not match the data's {tuple(data)}")


def statistics_positions(model: keras.Model) -> tuple[int, ...]:
    """Where ``model.get_weights()`` holds non-trainable weights: statistics the layers update
    themselves (batch normalisation's moving mean and variance), not gradient steps, so a rule
    that steps weights by deltas must not step them (:class:`kafkaml.strategies.FedBuff`)."""
    fixed = {id(variable) for variable in model.non_trainable_weights}
    return tuple(position for position, variable in enumerate(model.weights) if id(variable) in fixed)


def _walk(value: Any, path: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ArchitectureError(f"the architecture nests deeper than {MAX_DEPTH} levels at {_where(path)}")
    if isinstance(value, list):
        for item in value:
            _walk(item, path, depth + 1)
    elif isinstance(value, dict):
        if "class_name" in value:
            path = [*path, _name(value)]
            _check_object(value, path)
        for item in value.values():
            _walk(item, path, depth + 1)


def _name(obj: dict[str, Any]) -> str:
    config = obj.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else str(obj.get("class_name"))


def _where(path: list[str]) -> str:
    return "/".join(path) or "the top level"


def _check_object(obj: dict[str, Any], path: list[str]) -> None:
    """One serialised object ``{"module", "class_name", "config", "registered_name"}``."""
    class_name, module = obj.get("class_name"), obj.get("module")
    registered = obj.get("registered_name")
    where = _where(path)
    if not isinstance(class_name, str) or not (module is None or isinstance(module, str)):
        raise ArchitectureError(f"malformed object at {where}: class_name and module must be strings")
    described = f"{class_name!r} (module {module!r}) at {where}"
    if class_name in _CODE_CLASSES:
        raise ArchitectureError(f"{described} is not allowed: it carries Python code; use built-in layers only")
    if registered is not None and registered != class_name:
        raise ArchitectureError(f"{described} is a custom object (registered as {registered!r}); "
                                "only built-in Keras classes are allowed")
    if class_name in VALUE_ENCODINGS:
        if module is not None:
            raise ArchitectureError(f"{described}: Keras writes value encodings without a module")
        return
    if class_name == "function":
        name = obj.get("config")
        if module not in FUNCTION_MODULES or not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name) \
                or name in _NOT_MODELLING:
            raise ArchitectureError(f"function {name!r} (module {module!r}) at {where} is not a built-in "
                                    "activation, loss or metric")
        return
    if class_name in MODEL_CLASSES:
        if module not in MODEL_CLASSES[class_name]:
            raise ArchitectureError(f"model class {described} is not Keras' own")
        return
    if module == "keras.layers":
        if class_name not in LAYER_CLASSES:
            raise ArchitectureError(f"layer class {described} is not an allow-listed Keras layer")
        return
    if class_name in LAYER_CLASSES:
        raise ArchitectureError(f"layer class {described} must come from keras.layers")
    allowed = module in SUPPORT_MODULES or (module == "keras" and class_name in KERAS_MODULE_CLASSES)
    if not allowed or not _CLASS_NAME.fullmatch(class_name):
        raise ArchitectureError(f"class {described} is not an allow-listed Keras layer or built-in object")


@dataclass(frozen=True)
class LayerInfo:
    """One top-level layer as the builder reports it (for the user, and to check the data fits)."""

    name: str
    class_name: str
    output_shape: tuple[int | None, ...] | None
    parameters: int


@dataclass(frozen=True)
class BuiltModel:
    """What the builder made of the user's source: the only form in which the model leaves it.

    ``weights`` are the shapes and dtypes of ``model.get_weights()``, in order: with them the
    exact size of every weights payload of this model is known before anything is fetched.
    """

    architecture: str
    compile_config: dict[str, Any]
    parameters: int
    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    layers: tuple[LayerInfo, ...]
    weights: tuple[WeightSpec, ...]

    def to_json(self) -> str:
        return json.dumps({
            "architecture": self.architecture, "compile_config": self.compile_config,
            "parameters": self.parameters, "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [{"name": layer.name, "class": layer.class_name, "parameters": layer.parameters,
                        "output_shape": None if layer.output_shape is None else list(layer.output_shape)}
                       for layer in self.layers],
            "weights": [{"shape": list(spec.shape), "dtype": spec.dtype} for spec in self.weights],
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> BuiltModel:
        """Parse and check the builder's output (e.g. MODEL_ARCHITECTURE_FILE); ArchitectureError otherwise."""
        if len(text) > MAX_DESCRIPTION_BYTES:
            raise ArchitectureError(f"the model description is {len(text)} bytes, more than "
                                    f"{MAX_DESCRIPTION_BYTES} allowed")
        try:
            data = json.loads(text)
            built = cls(
                architecture=data["architecture"], compile_config=check_compile_config(data["compile_config"]),
                parameters=_count(data["parameters"]), input_shape=_shape(data["input_shape"]),
                output_shape=_shape(data["output_shape"]),
                layers=tuple(LayerInfo(str(item["name"]), str(item["class"]),
                                       None if item["output_shape"] is None else _shape(item["output_shape"]),
                                       _count(item["parameters"])) for item in data["layers"]),
                weights=tuple(WeightSpec.of(item["shape"], item["dtype"]) for item in data["weights"]),
            )
        except ArchitectureError:
            raise
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ArchitectureError(f"the model description is malformed: {type(exc).__name__}: {exc}") from None
        if not isinstance(built.architecture, str):
            raise ArchitectureError("the model description's architecture must be a JSON string")
        check_architecture(built.architecture)
        return built


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r:.40}")
    return value


def _shape(value: Any) -> tuple[int | None, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a shape (list), got {value!r:.40}")
    return tuple(None if dim is None else _count(dim) for dim in value)


@dataclass(frozen=True)
class SizeLimits:
    """The largest model a platform accepts, in weight elements: in all, and in any one tensor."""

    parameters: int
    tensor: int


class ModelTooLargeError(ArchitectureError):
    """The model has more parameters, or a larger tensor, than the platform's :class:`SizeLimits`."""


def check_size(built: BuiltModel, limits: SizeLimits) -> None:
    """Refuse a description (ModelTooLargeError, or ArchitectureError when it cannot be sized or does not
    add up) whose declared weights or whose architecture's weights exceed ``limits``."""
    declared = sum(elements(spec.shape) for spec in built.weights)
    if declared != built.parameters:
        raise ArchitectureError(f"the model description declares {built.parameters} parameters but weights "
                                f"of {declared}")
    try:
        allocated = weight_shapes(json.loads(built.architecture))
    except LayerSizeError as exc:
        raise ArchitectureError(str(exc)) from None
    tensors = [(f"weight {index}", spec.shape) for index, spec in enumerate(built.weights)]
    for where, shape in [*tensors, *allocated]:
        if elements(shape) > limits.tensor:
            raise ModelTooLargeError(f"{where} has a tensor of shape {list(shape)} ({elements(shape)} parameters), "
                                     f"more than the {limits.tensor} per tensor this platform allows")
    total = max(declared, sum(elements(shape) for _, shape in allocated))
    if total > limits.parameters:
        raise ModelTooLargeError(f"the model has {total} parameters, more than the {limits.parameters} "
                                 "this platform allows")
