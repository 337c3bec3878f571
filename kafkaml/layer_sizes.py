"""The weights Keras would allocate to rebuild a model, computed from its JSON alone.

Rebuilding a Keras JSON architecture allocates every weight of every layer: a layer that carries
a ``build_config`` is built from that shape as soon as it is deserialised, before the model is
assembled (a shape that does not fit the model fails only afterwards), and one without is built
when the model calls it, from the shape its wrapper or model passes. So a hostile description
can make whoever rebuilds it allocate terabytes, whatever weights and parameter count it
declares. :func:`weight_shapes` reads the same JSON and returns, without importing Keras or
allocating anything, the shape of each weight that rebuilding would create, with Keras' own
rules for each allow-listed layer class that has weights (Keras 3). Where a rebuild creates a
layer twice (``Bidirectional`` clones the layer it wraps), both count: the result bounds what is
allocated, and equals the model's parameters for models without such wrappers.

A layer with weights whose input shape is unknown (no ``build_config`` and no wrapper passing
one), whose configuration is malformed, or of a class neither sized here nor known to be
weightless (:data:`WEIGHTLESS`), is refused with :class:`LayerSizeError`: its size could only be
learnt by building it. The builder always describes built models, whose layers
all carry their ``build_config``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

Shape = tuple[int, ...]
#: The weights one layer creates, given its configuration and its input shape(s).
Sizer = Callable[[dict[str, Any], Any, "Callable[[Any, Any], None]"], Iterator[Shape]]


class LayerSizeError(ValueError):
    """A layer's weights cannot be sized from its JSON (unknown input shape or malformed configuration)."""


def weight_shapes(config: Any) -> list[tuple[str, Shape]]:
    """Each weight rebuilding ``config`` (a parsed, allow-listed Keras JSON) would create: where
    (model/layer path) and its shape."""
    found: list[tuple[str, Shape]] = []
    _find_layers(config, [], found)
    return found


def elements(shape: Shape) -> int:
    return math.prod(shape)


def _find_layers(value: Any, path: list[str], found: list[tuple[str, Shape]]) -> None:
    if isinstance(value, list):
        for item in value:
            _find_layers(item, path, found)
    elif isinstance(value, dict):
        if value.get("module") == "keras.layers" and "class_name" in value:
            _size_layer(value, path, found, None)
            return
        if isinstance(value.get("config"), dict) and isinstance(value["config"].get("name"), str):
            path = [*path, value["config"]["name"]]
        for item in value.values():
            _find_layers(item, path, found)


def _size_layer(layer: dict[str, Any], path: list[str], found: list[tuple[str, Shape]], passed: Any) -> None:
    """Size one layer object: from its own ``build_config`` if it has one (Keras builds it from that
    at deserialisation), else from ``passed``, the input shape its wrapper gives it."""
    config = layer.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    where = "/".join([*path, name if isinstance(name, str) else str(layer.get("class_name"))])
    class_name = str(layer.get("class_name"))
    if class_name in WEIGHTLESS:
        return
    if class_name not in SIZERS:
        raise LayerSizeError(f"layer {where}: the weights of class {class_name!r} cannot be sized")
    sizer = SIZERS[class_name]
    built = layer.get("build_config")
    shape = passed
    if isinstance(built, dict) and ("input_shape" in built or "shapes_dict" in built):
        shape = built.get("input_shape", built.get("shapes_dict"))
    if shape is None:
        raise LayerSizeError(f"layer {where} has weights but no build_config: their size cannot be known "
                             "without building it")
    if not isinstance(config, dict):
        raise LayerSizeError(f"layer {where} has no configuration")

    def inner(nested: Any, nested_shape: Any) -> None:
        if not isinstance(nested, dict):
            raise LayerSizeError(f"layer {where} wraps something that is not a layer")
        _size_layer(nested, [*path, where.rsplit("/", 1)[-1]], found, nested_shape)

    try:
        tensors = list(sizer(config, shape, inner))  # wrapped layers are added first, by ``inner``
    except LayerSizeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise LayerSizeError(f"the weights of layer {where} cannot be sized from its configuration "
                             f"({type(exc).__name__}: {exc})") from None
    found.extend((where, tensor) for tensor in tensors)


# --- reading configurations ------------------------------------------------------------------------


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r:.40}")
    return value


def _shape(value: Any) -> list[int | None]:
    if not isinstance(value, list) or any(isinstance(dim, list) for dim in value):
        raise ValueError(f"expected one input shape, got {value!r:.60}")
    return [None if dim is None else _count(dim, "a dimension") for dim in value]


def _dim(shape: list[int | None], axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"an axis must be an integer, got {axis!r:.40}")
    value = shape[axis]
    if value is None:
        raise ValueError(f"dimension {axis} of input shape {shape} is undefined")
    return value


def _ints(value: Any, rank: int, what: str) -> Shape:
    """A Keras tuple argument (``kernel_size``...): an integer for every axis, or a list of them."""
    values = [value] * rank if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, list):
        raise ValueError(f"{what} must be an integer or a list of integers")
    return tuple(_count(item, what) for item in values)


def _channels(config: dict[str, Any], shape: list[int | None], first_axis: int = 1) -> int:
    return _dim(shape, first_axis if config.get("data_format") == "channels_first" else -1)


def _flag(config: dict[str, Any], key: str) -> bool:
    """A boolean option; absent counts as on (Keras' default for every option read here)."""
    return config.get(key, True) is not False


def _lora(config: dict[str, Any], kernel: Shape) -> Iterator[Shape]:
    rank = config.get("lora_rank")
    if rank:
        rank = _count(rank, "lora_rank")
        yield (*kernel[:-1], rank)
        yield (rank, kernel[-1])


# --- Keras' rules, one per layer class with weights ----------------------------------------------


def _dense(config, shape, inner):
    units = _count(config["units"], "units")
    kernel = (_dim(_shape(shape), -1), units)
    yield kernel
    if _flag(config, "use_bias"):
        yield (units,)
    yield from _lora(config, kernel)


def _embedding(config, shape, inner):
    table = (_count(config["input_dim"], "input_dim"), _count(config["output_dim"], "output_dim"))
    yield table
    yield from _lora(config, table)


def _conv(rank: int, transpose: bool = False) -> Sizer:
    def sizer(config, shape, inner):
        channels, filters = _channels(config, _shape(shape)), _count(config["filters"], "filters")
        kernel_size = _ints(config["kernel_size"], rank, "kernel_size")
        if transpose:
            kernel = (*kernel_size, filters, channels)
        else:
            groups = max(1, _count(config.get("groups", 1), "groups"))
            kernel = (*kernel_size, channels // groups, filters)
        yield kernel
        if _flag(config, "use_bias"):
            yield (filters,)
        if not transpose:
            yield from _lora(config, kernel)
    return sizer


def _separable(rank: int) -> Sizer:
    def sizer(config, shape, inner):
        channels, filters = _channels(config, _shape(shape)), _count(config["filters"], "filters")
        multiplier = _count(config.get("depth_multiplier", 1), "depth_multiplier")
        yield (*_ints(config["kernel_size"], rank, "kernel_size"), channels, multiplier)
        yield (*(1,) * rank, channels * multiplier, filters)
        if _flag(config, "use_bias"):
            yield (filters,)
    return sizer


def _depthwise(rank: int) -> Sizer:
    def sizer(config, shape, inner):
        channels = _channels(config, _shape(shape))
        multiplier = _count(config.get("depth_multiplier", 1), "depth_multiplier")
        yield (*_ints(config["kernel_size"], rank, "kernel_size"), channels, multiplier)
        if _flag(config, "use_bias"):
            yield (channels * multiplier,)
    return sizer


def _recurrent(gates: int) -> Sizer:
    """LSTM (4 gates), GRU (3), SimpleRNN (1), as layers or cells: the last axis is the features."""
    def sizer(config, shape, inner):
        units = _count(config["units"], "units")
        yield (_dim(_shape(shape), -1), gates * units)
        yield (units, gates * units)
        if _flag(config, "use_bias"):
            yield (2, gates * units) if gates == 3 and _flag(config, "reset_after") else (gates * units,)
    return sizer


def _conv_lstm(rank: int) -> Sizer:
    def sizer(config, shape, inner):
        filters = _count(config["filters"], "filters")
        kernel_size = _ints(config["kernel_size"], rank, "kernel_size")
        yield (*kernel_size, _channels(config, _shape(shape), first_axis=2), 4 * filters)
        yield (*kernel_size, filters, 4 * filters)
        if _flag(config, "use_bias"):
            yield (4 * filters,)
    return sizer


def _rnn(config, shape, inner):
    sequence = _shape(shape)
    inner(config["cell"], [sequence[0], *sequence[2:]])
    return iter(())


def _bidirectional(config, shape, inner):
    # Keras deserialises the wrapped layer, then builds a forward copy of it (and a backward one
    # unless given): a wrapped layer with its own build_config is built twice.
    layer, backward = config["layer"], config.get("backward_layer")
    inner(layer, shape)
    inner(layer if backward is None else backward, shape)
    if isinstance(layer, dict) and layer.get("build_config"):
        inner(layer, shape)
    return iter(())


def _time_distributed(config, shape, inner):
    sequence = _shape(shape)
    inner(config["layer"], [sequence[0], *sequence[2:]])
    return iter(())


def _batch_normalization(config, shape, inner):
    size = (_dim(_shape(shape), config.get("axis", -1)),)
    tensors = 2 + _flag(config, "scale") + _flag(config, "center") + (3 if config.get("renorm") else 0)
    yield from [size] * tensors


def _layer_normalization(config, shape, inner):
    input_shape, axis = _shape(shape), config.get("axis", -1)
    size = tuple(_dim(input_shape, item) for item in (axis if isinstance(axis, list) else [axis]))
    yield from [size] * (_flag(config, "scale") + _flag(config, "center"))


def _group_normalization(config, shape, inner):
    size = (_dim(_shape(shape), config.get("axis", -1)),)
    yield from [size] * (_flag(config, "scale") + _flag(config, "center"))


def _normalization(config, shape, inner):
    if config.get("mean") is not None:
        return  # mean and variance are constants of the JSON, bounded with it
    input_shape, axis = _shape(shape), config.get("axis", -1)
    axes = [] if axis is None else axis if isinstance(axis, list) else [axis]
    size = tuple(_dim(input_shape, item) for item in axes)
    yield from (size, size, ())


def _prelu(config, shape, inner):
    size = [_dim(_shape(shape), axis) for axis in range(1, len(_shape(shape)))]
    shared = config.get("shared_axes") or []
    for axis in shared if isinstance(shared, list) else [shared]:
        size[_count(axis, "shared_axes") - 1] = 1
    yield tuple(size)


def _attention(config, shape, inner):
    if config.get("use_scale"):
        yield ()
    if config.get("score_mode") == "concat":
        yield ()


def _additive_attention(config, shape, inner):
    if _flag(config, "use_scale"):
        if not isinstance(shape, list) or not shape:
            raise ValueError("expected the query and value shapes")
        yield (_dim(_shape(shape[0]), -1),)


def _multi_head_attention(config, shapes, inner):
    if not isinstance(shapes, dict):
        raise ValueError("expected the query, value and key shapes (shapes_dict)")
    query = _shape(shapes["query_shape"])
    value = _shape(shapes["value_shape"])
    key = _shape(shapes.get("key_shape") or shapes["value_shape"])
    heads, key_dim = _count(config["num_heads"], "num_heads"), _count(config["key_dim"], "key_dim")
    value_dim = _count(config.get("value_dim") or key_dim, "value_dim")
    output = config.get("output_shape") or [_dim(query, -1)]
    output = _ints(output, 1, "output_shape") if isinstance(output, int) else _ints(output, len(output), "output_shape")
    bias = _flag(config, "use_bias")
    projections = [(query, key_dim), (key, key_dim), (value, value_dim)]
    if config.get("use_gate"):
        projections.append((query, value_dim))
    for source, size in projections:
        yield (_dim(source, -1), heads, size)
        if bias:
            yield (heads, size)
    yield (heads, value_dim, *output)
    if bias:
        yield output


_EINSUM_FORMS = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False), ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
                 ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False))


def _einsum_dense(config, shape, inner):
    """Keras' ``_analyze_split_string``: each kernel axis is an output axis or an input axis."""
    input_shape, equation = _shape(shape), str(config["equation"]).replace("...", "0")
    matches = [(match, left) for pattern, left in _EINSUM_FORMS if (match := re.fullmatch(pattern, equation))]
    if not matches:
        raise ValueError(f"unsupported einsum equation {config['equation']!r:.60}")
    match, left_elided = matches[0]
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(input_shape) - len(input_spec)
    declared = config.get("output_shape")
    output = [declared] if isinstance(declared, int) else list(declared or [])
    output.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for index in range(1, elided):
            output.insert(1, input_shape[index])
    elif elided > 0:
        output += input_shape[len(input_shape) - elided:]
    input_axes = {axis: (index + elided - len(input_shape)) if left_elided else index
                  for index, axis in enumerate(input_spec)}
    output_axes = {axis: index + elided if left_elided else index for index, axis in enumerate(output_spec)}
    kernel = []
    for axis in weight_spec:
        if axis in output_axes:
            kernel.append(output[output_axes[axis]])
        elif axis in input_axes:
            kernel.append(input_shape[input_axes[axis]])
        else:
            raise ValueError(f"kernel axis {axis!r} is in neither the input nor the output")
    kernel_shape = tuple(_count(dim, "a kernel dimension") for dim in kernel)
    yield kernel_shape
    bias_axes = config.get("bias_axes")
    if bias_axes:
        yield tuple(_count(output[output_axes[axis]], "a bias dimension") for axis in str(bias_axes)
                    if axis in output_axes)
    yield from _lora(config, kernel_shape)


SIZERS: dict[str, Sizer] = {
    "Dense": _dense, "EinsumDense": _einsum_dense, "Embedding": _embedding,
    "Conv1D": _conv(1), "Conv2D": _conv(2), "Conv3D": _conv(3),
    "Conv1DTranspose": _conv(1, True), "Conv2DTranspose": _conv(2, True), "Conv3DTranspose": _conv(3, True),
    "SeparableConv1D": _separable(1), "SeparableConv2D": _separable(2),
    "DepthwiseConv1D": _depthwise(1), "DepthwiseConv2D": _depthwise(2),
    "BatchNormalization": _batch_normalization, "LayerNormalization": _layer_normalization,
    "GroupNormalization": _group_normalization, "Normalization": _normalization, "PReLU": _prelu,
    "LSTM": _recurrent(4), "LSTMCell": _recurrent(4), "GRU": _recurrent(3), "GRUCell": _recurrent(3),
    "SimpleRNN": _recurrent(1), "SimpleRNNCell": _recurrent(1), "RNN": _rnn, "ConvLSTM1D": _conv_lstm(1),
    "ConvLSTM2D": _conv_lstm(2), "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed,
    "Attention": _attention, "AdditiveAttention": _additive_attention, "MultiHeadAttention": _multi_head_attention,
}
#: The allow-listed layer classes that create no weights.
WEIGHTLESS = frozenset({
    "InputLayer", "Activation", "Masking", "Identity", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise",
    "AlphaDropout", "ActivityRegularization", "UnitNormalization", "Rescaling", "ReLU", "LeakyReLU", "ELU",
    "Softmax", "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot",
})
