"""Classic coordination's replay on a real broker: a round record is the only way a version or an
outcome comes to exist, and records that would count something twice are skipped."""

from __future__ import annotations

import threading
import time

import pytest

from kafkaml.messages.kinds import RoundMessage, RoundOutcome, WeightsMessage
from kafkaml.pointers import WeightsPointer
from tests.conftest import unique
from training_worker.coordination.base import UpdateRefused, Version
from training_worker.coordination.classic import ClassicClient, ClassicCoordination, ClassicPlatform

MODEL = "m-replay"


def digest(name: str) -> bytes:
    return name.encode().ljust(32, b".")


def pointer(start: int) -> WeightsPointer:
    return WeightsPointer("kml-weights-m-replay", 0, start, start + 1)


def update_pointer(client: str) -> WeightsPointer:
    return WeightsPointer(f"kml-weights-m-replay.{client}", 0, 0, 1)


def update(channel: ClassicCoordination, client: str, name: str) -> None:
    channel.publish(WeightsMessage(MODEL, "update", 0, update_pointer(client), digest(name), client, base_version=0,
                                   samples=10))


def outcome(client: str, name: str, reward: int = 0, reason: str = "") -> RoundOutcome:
    return RoundOutcome(client, digest(name), update_pointer(client), not reason, reward, reason)


def test_replay_counts_each_version_and_each_outcome_once(platform_bootstrap: str) -> None:
    topic = unique("kml-fl")
    writer = ClassicCoordination(platform_bootstrap, topic, MODEL, "aggregator")
    platform = ClassicPlatform(writer, signing_key="0x" + "11" * 32)
    assert platform.start(digest("genesis"), pointer(0), digest("announcement")) == Version(0, digest("genesis"),
                                                                                           pointer(0))
    update(writer, "client-a", "a")
    update(writer, "client-b", "b")
    # Weights published as a version the earlier way (schema 1): no round record, so no version.
    writer.publish(WeightsMessage(MODEL, "global", 1, pointer(1), digest("orphan"), "aggregator"))
    writer.producer.send(topic, b"\x00junk", partition=0).get(timeout=10)
    update(writer, "client-c", "a")  # client-c copies client-a's hash: a submission of its own
    update(writer, "client-a", "a")  # the same submission again: queued once
    assert [(u.client, u.content_hash) for u in platform.wait_for_updates(3, 5)] == [
        ("client-a", digest("a")), ("client-b", digest("b")), ("client-c", digest("a"))]
    assert platform.accepted_hashes() == set()
    platform.record_round(digest("v1"), pointer(2), [outcome("client-a", "a", 5)])
    assert platform.accepted_hashes() == {digest("a")}
    # A second aggregator's record of version 1, a record skipping version 2, and a schema-1 round
    # that names no version: none of them counts.
    writer.publish(RoundMessage(MODEL, 1, (outcome("client-b", "b", 7),), content_hash=digest("v1-other"),
                                pointer=pointer(3)))
    writer.publish(RoundMessage(MODEL, 3, (outcome("client-b", "b", 7),), content_hash=digest("v3"),
                                pointer=pointer(4)))
    writer.publish(RoundMessage(MODEL, 2, (outcome("client-b", "b", 7),)))
    # Version 2 names client-a's "a" again (already consumed: ignored), "b", and client-c's "a".
    platform.record_round(digest("v2"), pointer(5), [outcome("client-a", "a", 5),
                                                     outcome("client-b", "b", 0, "non_finite"),
                                                     outcome("client-c", "a", 0, "duplicate_update")])
    platform.finish()
    writer.publish(RoundMessage(MODEL, 3, (), content_hash=digest("v3-late"), pointer=pointer(6)))

    for reader in (writer, ClassicCoordination(platform_bootstrap, topic, MODEL, "auditor")):
        state = reader.refresh()
        assert state.versions == {0: Version(0, digest("genesis"), pointer(0)),
                                  1: Version(1, digest("v1"), pointer(2)),
                                  2: Version(2, digest("v2"), pointer(5))}
        assert state.rewards == {"client-a": 5}
        assert state.consumed == {outcome(c, n).submission for c, n in [("client-a", "a"), ("client-b", "b"),
                                                                        ("client-c", "a")]}
        assert not state.queue and state.accepted == {digest("a")}
        assert state.finished


def test_a_client_has_at_most_one_update_queued(platform_bootstrap: str) -> None:
    """As the contract reverts UpdatePending: the client refuses to submit a second update while
    its first is queued, and a second one written straight to the topic is skipped by every
    reader; once the first is consumed the client may submit again."""
    topic = unique("kml-fl")
    writer = ClassicCoordination(platform_bootstrap, topic, MODEL, "aggregator")
    platform = ClassicPlatform(writer, signing_key="0x" + "11" * 32)
    platform.start(digest("genesis"), pointer(0), digest("announcement"))
    client = ClassicClient(ClassicCoordination(platform_bootstrap, topic, MODEL, "Client-A"))
    client.submit(0, digest("a1"), update_pointer("client-a"), 10)
    assert client.has_queued_update()
    with pytest.raises(UpdateRefused, match="still queued"):
        client.submit(0, digest("a2"), update_pointer("client-a"), 10)
    update(writer, "client-a", "a3")  # past the client's check: skipped by the replay
    update(writer, "client-b", "b1")
    assert [(u.client, u.content_hash) for u in platform.wait_for_updates(3, 2)] == [
        ("Client-A", digest("a1")), ("client-b", digest("b1"))]
    platform.record_round(digest("v1"), pointer(1),
                          [RoundOutcome("Client-A", digest("a1"), update_pointer("client-a"), True, 5, "")])
    assert not client.has_queued_update()
    client.submit(1, digest("a4"), update_pointer("client-a"), 10)
    assert [u.content_hash for u in ClassicCoordination(platform_bootstrap, topic, MODEL, "auditor").refresh()
            .queue.values()] == [digest("b1"), digest("a4")]


def test_a_waiting_client_wakes_on_the_next_control_record(platform_bootstrap: str) -> None:
    """The broker holds the fetch until a record arrives: a trainer waiting for a version sees it
    at once, not at its next poll, and a wait with nothing written lasts its whole timeout."""
    topic = unique("kml-fl")
    platform = ClassicPlatform(ClassicCoordination(platform_bootstrap, topic, MODEL, "aggregator"),
                               signing_key="0x" + "11" * 32)
    platform.start(digest("genesis"), pointer(0), digest("announcement"))
    client = ClassicClient(ClassicCoordination(platform_bootstrap, topic, MODEL, "client-a"))
    assert client.latest() == Version(0, digest("genesis"), pointer(0))
    started = time.monotonic()
    client.pause(0.6)
    assert time.monotonic() - started >= 0.55, "a wait with nothing written ended early"
    timer = threading.Timer(0.3, lambda: platform.record_round(digest("v1"), pointer(1), []))
    timer.start()
    started = time.monotonic()
    try:
        client.pause(5.0)
    finally:
        timer.join()
    assert time.monotonic() - started < 2.5, "the wait outlasted the record by seconds"
    assert client.latest() == Version(1, digest("v1"), pointer(1))
