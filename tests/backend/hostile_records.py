"""Control records anyone who can write to a topic can send. Most are produced with librdkafka
(confluent-kafka): unlike kafka-python's producer it sends what the protocol allows and our own
code never would — a tombstone (null value) and a header whose value is null. A header name that
is not UTF-8, which no client's API lets through, is written by kafka-python's record builder
handed a name whose encoding is those bytes."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Producer

from kafkaml import kafka

HEADER_BYTES = 1024
OVERSIZED_BYTES = 400 * 1024


class NotUtf8(str):
    """A header name that kafka-python's record builder writes as bytes that are not UTF-8."""

    def encode(self, *args, **kwargs) -> bytes:
        return b"\xff\xfe"


@dataclass(frozen=True)
class Hostile:
    """One record and the words its rejection reason must contain; ``readable``: whether the relay
    can read the record at all (else it delivers a summary of nothing: size 0)."""

    what: str
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    reason: str
    readable: bool = True


def hostile_records(valid: bytes, valid_headers: list[tuple[str, bytes]] | None = None, *,
                    largest: int) -> list[Hostile]:
    """The records that stopped a logger; the header ones carry a value (and headers) valid on
    their own, so only their extra header can be why they are rejected. ``largest``: the largest
    record the registry reads (a 400 KB one is refused for its size or for what it says)."""
    headers = list(valid_headers or [])
    return [
        Hostile("an empty value", b"", [], "empty"),
        Hostile("a tombstone", None, [], "empty"),
        Hostile("a null header", valid, [*headers, ("trace", None)], "header 'trace' has no value"),
        Hostile("a 1 KB header", valid, [*headers, ("trace", b"h" * HEADER_BYTES)],
                f"header 'trace' is {HEADER_BYTES} bytes"),
        Hostile("a 400 KB record", b"x" * OVERSIZED_BYTES, [],
                f"{OVERSIZED_BYTES} bytes" if largest < OVERSIZED_BYTES else "not valid JSON"),
        Hostile("JSON nested too deeply to parse", b"[" * 50_000, [], "nested too deeply"),
        Hostile("a header name that is not UTF-8", valid, [*headers, (NotUtf8("trace"), b"v")], "cannot decode",
                readable=False),
    ]


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, list[tuple[str, bytes | None]]]]) -> None:
    """Each record to partition 0, in order, each acknowledged by the broker before the next."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2 * 1024 * 1024,
                         "enable.idempotence": False, "acks": "all", "linger.ms": 0})
    failures: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(f"offset {message.offset()}: {error}")

    for value, headers in records:
        if any(isinstance(name, NotUtf8) for name, _ in headers):
            with_bad_name = kafka.producer(bootstrap)
            with_bad_name.send(topic, value, partition=0, headers=headers).get(timeout=15)
            with_bad_name.close()
            continue
        producer.produce(topic, value=value, key=b"k", headers=headers, partition=0, on_delivery=delivered)
        assert producer.flush(15) == 0 and not failures, failures
