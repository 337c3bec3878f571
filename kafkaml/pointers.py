"""Where a weights payload lives in Kafka: the pointer recorded on chain beside its content hash.

Shared by the weight transport (which writes and reads it) and the ledger (which packs it into
contract storage and events), so both agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HASH_BYTES = 32


@dataclass(frozen=True)
class WeightsPointer:
    """Records ``[start_offset, end_offset)`` of ``partition`` of ``topic`` hold one payload's chunks."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int

    def __post_init__(self) -> None:
        if not self.topic:
            raise ValueError("WeightsPointer.topic must not be empty")
        if self.partition < 0 or self.start_offset < 0:
            raise ValueError("WeightsPointer.partition and start_offset must be non-negative")
        if self.end_offset <= self.start_offset:
            raise ValueError("WeightsPointer.end_offset must be greater than start_offset")

    @property
    def chunk_count(self) -> int:
        return self.end_offset - self.start_offset

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition,
                "start_offset": self.start_offset, "end_offset": self.end_offset}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WeightsPointer:
        return cls(str(data["topic"]), int(data["partition"]), int(data["start_offset"]), int(data["end_offset"]))


def check_hash(content_hash: bytes) -> bytes:
    """Return ``content_hash`` if it is a 32-byte digest, else raise ValueError."""
    if not isinstance(content_hash, bytes | bytearray) or len(content_hash) != HASH_BYTES:
        raise ValueError(f"a content hash must be {HASH_BYTES} bytes, got {content_hash!r:.80}")
    return bytes(content_hash)
