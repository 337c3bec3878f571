"""Typed, checked access to a control message's fields: every failure is a :class:`SchemaError`
naming the message kind and the field (``data_control.input_shape: expected a list of positive
integers``), so that a producer's mistake is found in one look."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from kafkaml.pointers import WeightsPointer, check_hash

#: A field's default when it has none: leaving it out is an error.
REQUIRED: Any = object()


class SchemaError(ValueError):
    """A control message is malformed; ``kind`` and ``field`` say where."""

    def __init__(self, kind: str, field_name: str, problem: str) -> None:
        super().__init__(f"{kind}.{field_name}: {problem}" if field_name else f"{kind}: {problem}")
        self.kind = kind
        self.field = field_name


class Fields:
    """Typed access to a message's fields; every failure names the message kind and the field."""

    def __init__(self, kind: str, data: Any, prefix: str = "") -> None:
        if not isinstance(data, Mapping):
            raise SchemaError(kind, prefix.rstrip("."), f"expected a JSON object, got {type(data).__name__}")
        self.kind, self.data, self.prefix = kind, data, prefix

    def error(self, name: str, problem: str) -> SchemaError:
        return SchemaError(self.kind, self.prefix + name, problem)

    def raw(self, name: str, default: Any = REQUIRED) -> Any:
        if name in self.data and self.data[name] is not None:
            return self.data[name]
        if default is REQUIRED:
            raise self.error(name, "is required")
        return default

    def str(self, name: str, default: Any = REQUIRED, *, non_empty: bool = False) -> Any:
        value = self.raw(name, default)
        if value is default and default is not REQUIRED:
            return value
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {type(value).__name__}")
        if non_empty and not value:
            raise self.error(name, "must not be empty")
        return value

    def int(self, name: str, default: Any = REQUIRED, *, minimum: int | None = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {value!r:.40}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        return value

    def float(self, name: str, default: Any = REQUIRED) -> Any:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {value!r:.40}")
        return float(value)

    def bool(self, name: str, default: Any = REQUIRED) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {value!r:.40}")
        return value

    def dict(self, name: str, default: Any = REQUIRED) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, Mapping):
            raise self.error(name, f"expected a JSON object, got {type(value).__name__}")
        return dict(value)

    def shape(self, name: str) -> tuple[int, ...]:
        value = self.raw(name)
        if not isinstance(value, list | tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value
        ):
            raise self.error(name, f"expected a list of positive integers, got {value!r:.60}")
        return tuple(value)

    def dtype(self, name: str, default: Any = REQUIRED) -> Any:
        value = self.str(name, default)
        return check_dtype(value, lambda problem: self.error(name, problem))

    def choice(self, name: str, choices: tuple[str, ...], default: Any = REQUIRED) -> Any:
        value = self.str(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, got {value!r:.40}")
        return value

    def nested(self, name: str) -> Fields:
        return Fields(self.kind, self.raw(name), f"{self.prefix}{name}.")

    def names(self, name: str, default: Any = REQUIRED) -> Any:
        """A list of non-empty strings, as a tuple."""
        value = self.raw(name, default)
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            raise self.error(name, f"expected a list of non-empty strings, got {value!r:.60}")
        return tuple(value)


def check_dtype(name: str, error: Any) -> str:
    """A numpy dtype name with a fixed size (what RAW bytes can be decoded into)."""
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError):  # ValueError: a subarray dtype too large for numpy ("10000000000i4")
        raise error(f"{name!r:.40} is not a numpy dtype") from None
    if dtype.kind not in "biuf" or dtype.itemsize == 0:
        raise error(f"{name!r:.40} is not a numeric dtype (bool, int, uint or float)")
    return dtype.name


def rate_field(fields: Fields, name: str) -> float:
    value = fields.float(name, 0.0)
    if not 0.0 <= value < 1.0:
        raise fields.error(name, f"must be in [0, 1), got {value}")
    return value


def pointer_field(fields: Fields, name: str, default: Any = REQUIRED) -> Any:
    """A weights pointer (topic, partition, [start_offset, end_offset)), or ``default`` when absent."""
    if fields.raw(name, None) is None and default is not REQUIRED:
        return default
    pointer_fields = fields.nested(name)
    try:
        return WeightsPointer(
            pointer_fields.str("topic", non_empty=True), pointer_fields.int("partition", minimum=0),
            pointer_fields.int("start_offset", minimum=0), pointer_fields.int("end_offset", minimum=1),
        )
    except ValueError as exc:
        if isinstance(exc, SchemaError):
            raise
        raise fields.error(name, str(exc)) from None


def hash_field(fields: Fields, name: str, default: Any = REQUIRED) -> Any:
    """A SHA-256 content hash written as 64 hex digits, or ``default`` when absent."""
    digest = fields.str(name, default)
    if digest is default and default is not REQUIRED:
        return default
    try:
        return check_hash(bytes.fromhex(digest))
    except ValueError:
        raise fields.error(name, f"expected 64 hex digits, got {digest!r:.70}") from None


def load_json(raw: bytes | str | Mapping[str, Any], kind: str) -> Any:
    if isinstance(raw, Mapping):
        return raw
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw)
    except UnicodeDecodeError:
        raise SchemaError(kind, "", "not valid JSON (not UTF-8 text)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
        raise SchemaError(kind, "", f"not valid JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise SchemaError(kind, "", "not valid JSON (nested too deeply)") from None
