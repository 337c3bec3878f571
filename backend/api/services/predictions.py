"""The live view of an inference's answers: a summary of the newest records on its output topic
(how many of each class, or the values of a regression), read with a short, bounded read
(:func:`kafkaml.topic_tail.read_tail`) from the platform's own Kafka only.

The output topic is read as hostile: anyone who may write to it can put anything there, so a
record that is not an answer of the worker's shape (``docs/inference.md``, "Answers") is counted
as invalid, never an error of the request, and no value larger than an answer can be is decoded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from backend.api.environment import platform_settings
from backend.api.models import Inference
from kafkaml import kafka
from kafkaml.services.api import Conflict, Unavailable
from kafkaml.topic_tail import PartitionSpan, read_tail

#: Most answers one summary reads, and how long it may take to read them.
MAX_WINDOW = 1000
READ_S = 2.0
#: An answer's largest value decoded (a class answer over a thousand classes is ~20 KB), and the
#: numbers of a regression answer kept (its first ones, flattened).
MAX_ANSWER_BYTES = 64 * 1024
MAX_VALUES = 8
#: The largest class index taken for a class (beyond it, no model's softmax: not an answer).
MAX_CLASS = 2**31 - 1


@dataclass(frozen=True)
class PredictionSummary:
    read: int
    invalid: int
    classes: dict[int, int]  # class index -> answers, ascending
    values: list[list[float]]  # regression answers' first numbers, oldest first
    spans: list[PartitionSpan]
    complete: bool  # the read reached every partition's end within its bounds


def inference_predictions(*, inference: Inference, window: int) -> PredictionSummary:
    """Summarise at most the ``window`` newest records of the inference's output topic.

    409 when its topics are on another Kafka than the platform's (the platform connects to no
    address a user chose); 503 when the platform's Kafka is not set or does not answer."""
    site = platform_settings().bootstrap_servers
    if not site:
        raise Unavailable("BOOTSTRAP_SERVERS is not set: the platform has no Kafka to read")
    if inference.bootstrap_servers != site:
        raise Conflict("this inference answers on another Kafka than the platform's; the platform reads only its own")
    try:
        tail = read_tail(site, inference.output_topic, window, timeout_s=READ_S)
    except (kafka.KafkaUnavailable, KafkaError) as exc:
        raise Unavailable(f"the platform's Kafka cannot be read now: {exc}") from None
    classes: dict[int, int] = {}
    values: list[list[float]] = []
    invalid = 0
    for record in tail.records:
        answer = _answer(record.value)
        if isinstance(answer, int):
            classes[answer] = classes.get(answer, 0) + 1
        elif answer is not None:
            values.append(answer)
        else:
            invalid += 1
    return PredictionSummary(read=len(tail.records), invalid=invalid, classes=dict(sorted(classes.items())),
                             values=values, spans=tail.spans, complete=tail.complete)


def _answer(value: bytes | None) -> int | list[float] | None:
    """A class answer's class, a regression answer's first numbers, or None for anything else."""
    if value is None or len(value) > MAX_ANSWER_BYTES:
        return None
    try:
        answer = json.loads(value)
    except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError), or nested too deep
        return None
    if not isinstance(answer, dict):
        return None
    label = answer.get("class")
    if type(label) is int and 0 <= label <= MAX_CLASS and isinstance(answer.get("probabilities"), list):
        return label
    if "class" not in answer and isinstance(answer.get("values"), list):
        numbers = _numbers(answer["values"])
        return numbers[:MAX_VALUES] if numbers else None
    return None


_END = object()


def _numbers(values: list[Any]) -> list[float] | None:
    """The finite numbers of nested lists, flattened in order; None if anything else is in them."""
    flat: list[float] = []
    stack: list[Any] = [iter(values)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        elif (number := _finite(item)) is not None:
            flat.append(number)
        else:
            return None
    return flat


def _finite(item: Any) -> float | None:
    if type(item) not in (int, float):
        return None
    try:
        number = float(item)
    except OverflowError:  # an integer beyond a float's range
        return None
    return number if math.isfinite(number) else None
