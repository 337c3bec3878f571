"""A control record as a relay delivers it to a registry, and what a registry keeps of one it
rejects.

Anyone who can write to a control topic can write any record the Kafka protocol allows: an empty
value or a tombstone, a header without a value, headers or a value of any size. Each must end as
registered or as rejected with its reason, because a record the registry refuses to take would
stop its relay at that offset for good. So the registry takes every record a relay delivers, and
what it keeps of a rejected one is bounded whatever the record was: the reason (cut to
``MAX_REASON_CHARS``), the size, the SHA-256 and an excerpt of ``EXCERPT_BYTES``.

The relay bounds what it sends (``MAX_RECORD_BYTES``): a larger record, or one the registry
answered 400/413 for, is delivered as a *summary* (its size, hash, an excerpt and why it could
not be delivered), which the registry records as rejected. This module is plain Python: the relay
imports it without Django.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: The largest record each registry reads: a datasource description, a model announcement (it
#: carries the model's architecture).
MAX_DESCRIPTION_BYTES = 256 * 1024
MAX_ANNOUNCEMENT_BYTES = 4 * 1024 * 1024
#: The most a relay delivers of one record (value and headers); a larger one is summarised.
MAX_RECORD_BYTES = max(MAX_DESCRIPTION_BYTES, MAX_ANNOUNCEMENT_BYTES)
#: A control record of ours carries at most a signature header (65 bytes): these bounds are wide.
MAX_HEADERS = 16
MAX_HEADER_NAME_CHARS = 100
MAX_HEADER_BYTES = 512
#: What a rejection keeps of the record's value: its first bytes, as text (``\\xNN`` for a byte
#: that is not UTF-8, so at most four characters a byte).
EXCERPT_BYTES = 200
MAX_REASON_CHARS = 2000


def base64_length(size: int) -> int:
    """Characters of the base64 text of ``size`` bytes."""
    return 4 * ((size + 2) // 3)


@dataclass(frozen=True)
class ControlRecord:
    """One record of a control topic as delivered: its value (only an excerpt when ``undeliverable``
    says why the relay could not send it all), its headers, its size and SHA-256 as in the topic."""

    value: bytes
    headers: dict[str, bytes | None] = field(default_factory=dict)
    size: int = -1
    sha256: str = ""
    undeliverable: str = ""

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.value))
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.value).hexdigest())

    def problem(self, max_bytes: int) -> str:
        """Why no registry can use this record, whatever its value says; "" when none of that.
        ``max_bytes``: the largest value this registry reads."""
        if self.undeliverable:
            return self.undeliverable
        if self.size == 0:
            return "the record is empty (an empty value or a tombstone)"
        if self.size > max_bytes:
            return f"the record is {self.size} bytes; at most {max_bytes} are read here"
        if len(self.headers) > MAX_HEADERS:
            return f"the record has {len(self.headers)} headers; a control record has at most {MAX_HEADERS}"
        for name, value in self.headers.items():
            shown = printable(name[:MAX_HEADER_NAME_CHARS])
            if len(name) > MAX_HEADER_NAME_CHARS:
                return f"header {shown!r}... has a name longer than {MAX_HEADER_NAME_CHARS} characters"
            if value is None:
                return f"header {shown!r} has no value (null)"
            if len(value) > MAX_HEADER_BYTES:
                return f"header {shown!r} is {len(value)} bytes; a control record's header is at most {MAX_HEADER_BYTES}"
        return ""

    def rejection(self, reason: str) -> dict[str, object]:
        """What a registry keeps of this record when it rejects it (all bounded)."""
        return {"reason": printable(reason)[:MAX_REASON_CHARS], "size": self.size, "sha256": self.sha256,
                "excerpt": excerpt(self.value)}


def excerpt(value: bytes) -> str:
    """The first ``EXCERPT_BYTES`` of ``value`` as text a database column takes."""
    return printable(value[:EXCERPT_BYTES].decode("utf-8", "backslashreplace"))


def printable(text: str) -> str:
    """``text`` without NUL characters (PostgreSQL refuses them in text), each shown as ``\\x00``."""
    return text.replace("\x00", "\\x00")
