"""A control topic relayed, record by record, to a REST registry: nothing lost, nothing doubled.

The loggers of the platform and of each client (``data_control_logger``, and the model control
logger of the client module) are this loop with another endpoint. Its rules:

* **Where to start is the registry's word.** The registry records every control record it was
  given by its position (topic, partition, offset) — registered or rejected — and answers where
  the relay should go on (``next_offset``). A relay that stopped, crashed or was down while
  records arrived resumes exactly after the last acknowledged one; no local state to lose.
* **At least once, idempotent.** A record counts as delivered only once the registry
  acknowledged it; a retry of a record the registry already has is acknowledged again, without
  a second registration.
* **A bad record is the registry's verdict, not the relay's.** The registry records a record it
  cannot use (empty, malformed, a null or oversized header) as rejected, with its reason, and
  acknowledges it, so it is skipped for good and visible; it is never retried for ever and never
  stops the relay. What the relay sends is bounded: a record above
  :data:`~kafkaml.relay_records.MAX_RECORD_BYTES`, one the registry answered 400 or 413 for,
  and one the Kafka client cannot even decode are delivered as a *summary* (size, SHA-256, an
  excerpt, why), which the registry records as rejected. Only a refusal of the relay itself (its
  token, its URL, a summary refused) stops it.
* **An unreachable registry is waited for**, with back-off, never skipped; SIGTERM/SIGINT only
  set a stop flag: the record in hand is finished, then the relay returns.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests
from kafka import TopicPartition
from kafka.errors import CorruptRecordError

from kafkaml import kafka
from kafkaml.config import ConfigError, SettingGroup, read_secret
from kafkaml.relay_records import EXCERPT_BYTES, MAX_RECORD_BYTES
from kafkaml.topics import CONTROL_TOPIC_CONFIG, ensure_topic

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0


class RegistryRefused(RuntimeError):
    """The registry refused the relay itself (authentication, a 4xx on a well-formed request)."""


@dataclass(frozen=True)
class Registry:
    """The REST side: ``<url>`` takes records (POST), ``<url>progress/`` says where to resume."""

    url: str
    token: str
    timeout_s: float = 10.0

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Relay {self.token}"}  # a relay token: kafkaml.services.registry.auth

    def next_offset(self, topic: str, partition: int) -> int:
        answer = requests.get(f"{self.url}progress/", params={"control_topic": topic, "partition": partition},
                              headers=self._headers(), timeout=self.timeout_s)
        _raise_for(answer)
        return int(answer.json()["next_offset"])

    def deliver(self, topic: str, partition: int, offset: int, value: bytes | None,
                headers: list[tuple[str, bytes | None]] | None = None) -> dict:
        """POST one record, its headers too (a classic announcement's signature is one); a record
        too large to send, or refused as a request, goes as a summary instead."""
        value, headers = value or b"", headers or []
        position = {"control_topic": topic, "partition": partition, "offset": offset}
        size = len(value) + sum(len(name.encode()) + len(item or b"") for name, item in headers)
        if size > MAX_RECORD_BYTES:
            return self.summarise(position, value, f"the record is {size} bytes with its headers; a relay "
                                                   f"delivers at most {MAX_RECORD_BYTES}")
        encoded = {name: None if item is None else base64.b64encode(item).decode() for name, item in headers}
        answer = self._post({**position, "record": base64.b64encode(value).decode(), "headers": encoded})
        if answer.status_code in RECORD_REFUSED:
            return self.summarise(position, value, f"the registry refused the record: HTTP {answer.status_code} "
                                                   f"{answer.text[:200]}")
        _raise_for(answer)
        return answer.json()

    def summarise(self, position: dict, value: bytes, reason: str) -> dict:
        """Deliver what the relay knows of a record it cannot deliver whole: the registry records it
        as rejected with ``reason``. A summary refused is the relay refused (:class:`RegistryRefused`)."""
        answer = self._post({**position, "record": base64.b64encode(value[:EXCERPT_BYTES]).decode(),
                             "undeliverable": {"reason": reason, "size": len(value),
                                               "sha256": hashlib.sha256(value).hexdigest()}})
        _raise_for(answer)
        return answer.json()

    def _post(self, body: dict) -> requests.Response:
        return requests.post(self.url, json=body, headers=self._headers(), timeout=self.timeout_s)


#: Answers about the request a record made (malformed for this registry, too large), not the relay.
RECORD_REFUSED = (400, 413)


def _raise_for(answer: requests.Response) -> None:
    if answer.status_code >= 500 or answer.status_code in (408, 429):
        raise requests.HTTPError(f"HTTP {answer.status_code}", response=answer)
    if answer.status_code >= 400:
        raise RegistryRefused(f"the registry refused the relay: HTTP {answer.status_code} {answer.text[:300]}")


class Relay:
    """Relays one single-partition control topic to a registry until stopped."""

    def __init__(self, bootstrap: str, topic: str, registry: Registry, *, poll_ms: int = 500) -> None:
        self.bootstrap, self.topic, self.registry, self.poll_ms = bootstrap, topic, registry, poll_ms
        self.stopping = threading.Event()
        self.delivered = 0

    def stop_on_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())

    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Relay records until :meth:`stop` (or ``until()`` is true between polls)."""
        ensure_topic(self.bootstrap, self.topic, configs=CONTROL_TOPIC_CONFIG)
        partition = TopicPartition(self.topic, 0)
        position = self._patiently(lambda: self.registry.next_offset(self.topic, 0), "ask where to resume")
        if position is None:
            return
        consumer = kafka.assigned_consumer(self.bootstrap, [partition])
        try:
            consumer.seek(partition, position)
            log.info("relaying %s from offset %d to %s", self.topic, position, self.registry.url)
            while not self.stopping.is_set() and not until():
                try:
                    records = consumer.poll(timeout_ms=self.poll_ms).get(partition, [])
                except (CorruptRecordError, UnicodeDecodeError) as exc:  # a record the client cannot decode
                    if not self._skip_unreadable(consumer, partition, exc):
                        return
                    continue
                for record in records:
                    answer = self._patiently(
                        lambda r=record: self.registry.deliver(self.topic, 0, r.offset, r.value, list(r.headers or [])),
                        f"deliver {self.topic}@{record.offset}")
                    if answer is None:  # stopping while the registry was away: resume there next time
                        return
                    self._delivered(record.offset, answer)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()

    def _skip_unreadable(self, consumer, partition: TopicPartition, error: Exception) -> bool:
        """The record at the consumer's position could not be decoded (a header name that is not
        UTF-8, a failed checksum): delivered as an empty summary, then passed. The client decodes a
        whole batch at once, so the records after it in its batch (one producer's request: the
        same writer's) are passed the same way, one by one. False once stopping."""
        offset = consumer.position(partition)
        reason = f"the relay cannot decode the record: {type(error).__name__}: {str(error)[:200]}"
        answer = self._patiently(lambda: self.registry.summarise(
            {"control_topic": self.topic, "partition": 0, "offset": offset}, b"", reason),
            f"deliver {self.topic}@{offset}")
        if answer is None:
            return False
        self._delivered(offset, answer)
        consumer.seek(partition, offset + 1)
        return True

    def _delivered(self, offset: int, answer: dict) -> None:
        self.delivered += 1
        reason = answer.get("reason") or (answer.get("model") or {}).get("reason")
        if answer.get("status") == "rejected" or (answer.get("model") or {}).get("state") == "rejected":
            log.warning("%s@%d was rejected by the registry: %s", self.topic, offset, str(reason)[:300])

    def _patiently(self, call: Callable[[], object], what: str):
        """``call()`` retried with back-off while the registry is unreachable; None once stopping."""
        delay = RETRY_FIRST_S
        while not self.stopping.is_set():
            try:
                return call()
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                log.warning("could not %s (%s); retrying in %.1f s", what, exc, delay)
                self.stopping.wait(delay)
                delay = min(2 * delay, RETRY_MAX_S)
        return None


def run_logger(name: str, settings: SettingGroup, bootstrap: str, topic: str) -> int:
    """A logger program's ``main``: relay the topic named by the ``topic`` setting of the Kafka
    named by ``bootstrap`` to REGISTRY_URL with REGISTRY_TOKEN_FILE, until SIGTERM. Exit 2 on a
    bad setting or a registry that refuses the logger, 0 once stopped."""
    log_ = logging.getLogger(name)
    try:
        values = settings.load()
        token = read_secret("REGISTRY_TOKEN", {"REGISTRY_TOKEN_FILE": str(values["REGISTRY_TOKEN_FILE"])})
    except ConfigError as exc:
        log_.error("cannot start the %s: %s", name.replace("_", " "), exc)
        return 2
    url = values["REGISTRY_URL"] if values["REGISTRY_URL"].endswith("/") else values["REGISTRY_URL"] + "/"
    relay = Relay(values[bootstrap], values[topic], Registry(url, token))
    relay.stop_on_signals()
    try:
        relay.run()
    except RegistryRefused as exc:
        log_.error("%s", exc)
        return 2
    log_.info("stopped after relaying %d record(s)", relay.delivered)
    return 0
