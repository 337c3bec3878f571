"""A training's contract as anybody reads it, with no key: its views, its queue and its history.

The holders of a key (:mod:`~kafkaml.ledger.aggregator`, :mod:`~kafkaml.ledger.trainer`) read
through the same class. Reads of the queue come from events (what an auditor sees)
cross-checked with the contract's counters, so a reader never trusts a half-read log range.
"""

from __future__ import annotations

import threading
import time
import typing
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from web3 import Web3
from web3.types import RPCEndpoint

from kafkaml.ledger import errors
from kafkaml.ledger.contracts import (
    artifact,
    error_decoder,
    factory_contract,
    factory_of,
    pointer_from_event,
    submission_from_event,
    view_abi,
)
from kafkaml.ledger.doorbell import LogDoorbell
from kafkaml.ledger.events import Event, EventReader
from kafkaml.ledger.records import (
    Audit,
    AuditedUpdate,
    AuditedVersion,
    ClientState,
    GlobalVersion,
    Phase,
    Platform,
    SubmittedUpdate,
    TrainingInfo,
    decode_verdict,
)
from kafkaml.ledger.transactions import Rpc
from kafkaml.pointers import WeightsPointer
from kafkaml.topics import update_topic

# An EIP-1167 clone's code (OpenZeppelin Clones): prefix, implementation address, suffix, arguments.
_CLONE_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
_CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


class TrainingReader:
    """A training contract read by anybody."""

    def __init__(self, rpc: Rpc, address: str) -> None:
        self.rpc = rpc
        self.address = Web3.to_checksum_address(address)
        self.contract = rpc.w3.eth.contract(address=self.address, abi=artifact("FederatedLearning")["abi"])
        self._events = EventReader(rpc, self.contract)
        self._info: TrainingInfo | None = None
        self._submissions: list[SubmittedUpdate] = []
        self._scanned_to = -1
        self._scan_lock = threading.Lock()
        self._latest: _CachedVersion | None = None
        self._implementation: str | None = None
        self._doorbell: LogDoorbell | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    @classmethod
    def open(cls, rpc_url: str, contract_address: str) -> typing.Self:
        """Open an existing training to read it (no key): for audits, services and clients' checks."""
        return cls(Rpc(rpc_url), contract_address)._with_code()

    def info(self) -> TrainingInfo:
        """The training's creation parameters (its immutable arguments and its ``TrainingConfigured``
        event; cached)."""
        if self._info is None:
            try:
                created = self._view("createdAt")
            except errors.ContractRevert:
                raise errors.LedgerError(f"{self.address} is not a training: it does not answer createdAt()") from None
            if created > self.rpc.block_number():
                raise errors.LedgerError(f"{self.address} claims to be created in block {created}, after the chain's "
                                         "head: it is no training of a factory")
            configured = [e for e in self._events.read(created, created) if e.name == "TrainingConfigured"]
            if not configured:
                raise errors.LedgerError(f"{self.address} was never initialised as a training by a factory")
            event = configured[0]
            a = event.args
            self._info = TrainingInfo(
                self.address,
                self._view("aggregator"),
                self._view("token"),
                bytes(a["settingsHash"]),
                a["weightsTopic"],
                a["strategy"],
                a["rounds"],
                created,
                int(self._view("budget")),
            )
        return self._info

    def platform(self) -> Platform:
        """The factory, token and implementation behind this training, checked: the clone's
        implementation is the factory's, and the factory's TrainingCreated event names this
        training (a clone anybody made of the implementation is refused)."""
        implementation = self.implementation()
        token = self.info().token
        factory_address = factory_of(self.rpc, token)
        factory = factory_contract(self.rpc, factory_address)
        if self.rpc(lambda: factory.functions.implementation().call()) != implementation:
            raise errors.LedgerError(f"{self.address} is a clone of {implementation}, not of the implementation "
                                     f"of the factory {factory_address} behind its token")
        created = self.rpc(lambda: factory.events.TrainingCreated().get_logs(
            from_block=self.info().created_block, to_block=self.info().created_block,
            argument_filters={"training": self.address}))
        if not created:
            raise errors.LedgerError(f"the factory {factory_address} did not create {self.address}")
        return Platform(factory_address, token, implementation)

    def expect_platform(self, factory: str, token: str) -> Platform:
        """:meth:`platform`, which must be the expected one: a training created by another factory
        for another token (a look-alike platform's, however faithful a copy) is refused."""
        platform = self.platform()
        if (platform.factory.lower(), platform.token.lower()) != (factory.lower(), token.lower()):
            raise errors.LedgerError(
                f"{self.address} was created by the factory {platform.factory} for the token {platform.token}, "
                f"not by the expected factory {factory} for the token {token}: it is not this platform's training")
        return platform

    def implementation(self) -> str:
        """The implementation this training's clone delegates to, read from its code (cached)."""
        if self._implementation is None:
            code = bytes(self.rpc(lambda: self.rpc.w3.eth.get_code(self.address)))
            if not (code.startswith(_CLONE_PREFIX) and code[30:45] == _CLONE_SUFFIX):
                raise errors.LedgerError(f"{self.address} is not a training clone of a TrainingFactory")
            self._implementation = Web3.to_checksum_address(code[10:30])
        return self._implementation

    def phase(self) -> Phase:
        return Phase(self._view("phase"))

    def is_active(self) -> bool:
        return bool(self._view("isActive"))

    def wait_for_event(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``, ending early once the contract emitted a log (when the node
        serves subscriptions, :mod:`kafkaml.ledger.doorbell`); True if it did. Callers read the
        state afterwards as after any poll."""
        if self._doorbell is None:
            self._doorbell = LogDoorbell(self.rpc.websocket_url, self.address, self.rpc.public_url)
        return self._doorbell.wait(timeout_s)

    def queue_size(self) -> int:
        return int(self._view("queueSize"))

    def latest_version(self) -> GlobalVersion:
        """The newest global version. Clients poll this, so it costs one call while nothing
        changed; a new version costs one more for its hash (kept only in its event, see
        docs/ledger.md)."""
        latest = self._version_from(*self._view("latestVersion"))
        if latest is None:
            raise errors.WrongPhase("WrongPhase", {}, message="the training has not published a version yet")
        return latest

    def client_state(self, address: str) -> ClientState:
        """The phase, the newest version and whether ``address`` has an update queued, in one call
        (what a waiting trainer polls; a new version costs one more for its hash)."""
        phase, *latest, pending = self._view("clientView", Web3.to_checksum_address(address))
        return ClientState(Phase(phase), self._version_from(*latest), bool(pending))

    def _version_from(self, version: int, partition: int, start: int, end: int, block: int) -> GlobalVersion | None:
        """The version the contract's fields describe, its hash read from its event once."""
        if block == 0:  # start() publishes version 0; before it there is none
            return None
        cached = self._latest
        if cached is not None and (cached.version, cached.block) == (version, block):
            return cached.value
        published = self._published_in(block)
        latest = GlobalVersion(
            version,
            bytes(published[-1].args["contentHash"]),
            WeightsPointer(self.info().weights_topic, partition, start, end),
        )
        self._latest = _CachedVersion(version, block, latest)
        return latest

    def has_pending(self, address: str) -> bool:
        """Whether ``address`` has an update waiting in the queue (one call)."""
        return bool(self._view("pendingOf", Web3.to_checksum_address(address))[0])

    def is_client(self, address: str) -> bool:
        """Whether ``address`` is registered to submit updates to this training (one call)."""
        return bool(self._view("isClient", Web3.to_checksum_address(address)))

    def credited(self) -> int:
        """Rewards credited so far by the whole training (never above ``info().budget``)."""
        return int(self._view("credited"))

    def sample_ceilings(self) -> dict[str, int]:
        """Each registered client's sample ceiling, from the ClientRegistered events."""
        return {e.args["client"]: e.args["sampleCeiling"] for e in self._all_events() if e.name == "ClientRegistered"}

    def announcement_hash(self) -> bytes | None:
        """The model announcement's SHA-256 recorded when the training started (None before)."""
        created = self.info().created_block
        started = [e for e in self._all_events() if e.name == "TrainingStarted" and e.block >= created]
        return bytes(started[0].args["announcementHash"]) if started else None

    def rewards_of(self, address: str) -> int:
        """Rewards credited to ``address`` so far (paid or not), in token base units."""
        return int(self._view("rewardsOf", Web3.to_checksum_address(address))[0])

    def unpaid_of(self, address: str) -> int:
        earned, paid = self._view("rewardsOf", Web3.to_checksum_address(address))
        return int(earned - paid)

    def token_balance(self, address: str, block: int | str = "latest") -> int:
        """``address``'s balance of this training's reward token at ``block``: the token outlives
        trainings, so what one training paid is the difference across its blocks."""
        token = self.rpc.w3.eth.contract(address=self.info().token, abi=artifact("RewardToken")["abi"])
        account = Web3.to_checksum_address(address)
        return int(self.rpc(lambda: token.functions.balanceOf(account).call(block_identifier=block)))

    def clients(self) -> list[str]:
        return [e.args["client"] for e in self._all_events() if e.name == "ClientRegistered"]

    def pending_updates(self) -> list[SubmittedUpdate]:
        """The queued, not yet aggregated updates, oldest first."""
        return self._queued(*self._view("queueCounters"))

    def _queued(self, submitted: int, consumed: int) -> list[SubmittedUpdate]:
        """The queue the contract's counters describe, from the submissions' events."""
        return self._submissions_up_to(submitted)[consumed:submitted]

    def history(self) -> Audit:
        """Every global version with the updates it consumed, rebuilt from events only."""
        events = self._all_events()
        info = self.info()
        submissions: list[AuditedUpdate] = []  # in queue order
        versions: list[AuditedVersion] = []
        ceilings: dict[str, int] = {}
        announcement: bytes | None = None
        earned: dict[str, int] = {}
        paid: dict[str, int] = {}
        clients: list[str] = []
        consumed_in_tx: list[AuditedUpdate] = []
        consumed = 0
        for event in events:
            a = event.args
            if event.name == "ClientRegistered":
                clients.append(a["client"])
                ceilings[a["client"]] = a["sampleCeiling"]
            elif event.name == "TrainingStarted":
                announcement = bytes(a["announcementHash"])
            elif event.name == "UpdateSubmitted":
                submissions.append(
                    AuditedUpdate(
                        len(submissions),
                        a["client"],
                        bytes(a["contentHash"]),
                        a["baseVersion"],
                        a["samples"],
                        pointer_from_event(update_topic(info.weights_topic, a["client"]), a),
                        event.block,
                    )
                )
            elif event.name == "UpdateVerdict":
                # The queue is FIFO, so verdicts come in submission order; they precede the
                # GlobalVersionPublished event of the version they went into: the next one.
                update = submissions[consumed]
                consumed += 1
                update.version = len(versions)
                update.staleness = update.version - 1 - update.base_version
                update.accepted, update.reward, update.reason = decode_verdict(bytes(a["verdict"]))
                earned[update.client] = earned.get(update.client, 0) + update.reward
                consumed_in_tx.append(update)
            elif event.name == "GlobalVersionPublished":
                versions.append(
                    AuditedVersion(
                        len(versions),
                        bytes(a["contentHash"]),
                        pointer_from_event(info.weights_topic, a),
                        self._block_time(event.block),
                        event.block,
                        event.tx_hash,
                        consumed_in_tx,
                    )
                )
                consumed_in_tx = []
            elif event.name == "RewardPaid":
                paid[a["client"]] = paid.get(a["client"], 0) + a["amount"]
        pending = submissions[consumed:]
        return Audit(info, self.phase(), clients, versions, pending, earned, paid, ceilings, announcement)

    def _with_code(self) -> typing.Self:
        if not self.rpc(lambda: self.rpc.w3.eth.get_code(self.address)):
            raise errors.LedgerError(f"no contract at {self.address} on {self.rpc.public_url}")
        return self

    def _view(self, name: str, *args: Any) -> Any:
        """One ``eth_call`` of a view of the training, encoded and decoded here. Trainers and the
        aggregator poll these views; web3's contract call spends several times the processor time
        of the round trip itself on its middleware and formatters, and on a 2-core machine that
        time is taken from training."""
        selector, inputs, outputs = view_abi()[name]
        data = "0x" + (selector + abi_encode(inputs, args)).hex()
        response = self.rpc(lambda: self.rpc.w3.provider.make_request(
            RPCEndpoint("eth_call"), [{"to": self.address, "data": data}, "latest"]))
        if "error" in response:
            error = response["error"]
            if isinstance(error, dict) and error.get("data"):
                raise error_decoder().decode(error["data"])
            raise errors.LedgerError(f"{name}() failed on {self.rpc.public_url}: {error}")
        values = [Web3.to_checksum_address(value) if kind == "address" else value
                  for kind, value in zip(outputs, abi_decode(outputs, bytes.fromhex(response["result"][2:])),
                                         strict=True)]
        return values[0] if len(values) == 1 else values

    def _submissions_up_to(self, count: int) -> list[SubmittedUpdate]:
        """The first ``count`` submissions in queue order, scanning only blocks not read before.

        Submissions are history: when exactly ``count`` are known already (the aggregator reads
        the queue again to record the round it just waited for) no call is made."""
        deadline = time.monotonic() + self.rpc.retry_s
        with self._scan_lock:
            if len(self._submissions) == count:
                return list(self._submissions)
            latest = self.rpc.block_number()
            if latest < self._scanned_to or len(self._submissions) > count:
                # the node went back in time (restart): re-read
                self._submissions, self._scanned_to = [], -1
            while True:
                start = max(self._scanned_to + 1, self.info().created_block)
                topic = self.info().weights_topic
                for event in self._events.read(start, latest):
                    if event.name == "UpdateSubmitted":
                        self._submissions.append(submission_from_event(len(self._submissions), event, topic))
                self._scanned_to = latest
                if len(self._submissions) >= count:
                    return list(self._submissions)
                if time.monotonic() >= deadline:
                    raise errors.LedgerError(
                        f"the node counts {count} submissions but serves only "
                        f"{len(self._submissions)} UpdateSubmitted events"
                    )
                time.sleep(
                    0.05
                )  # a load-balanced node served the counter before the logs: read the new blocks
                latest = self.rpc.block_number()

    def _all_events(self) -> list[Event]:
        return self._events.read(self.info().created_block, self.rpc.block_number())

    def _published_in(self, block: int) -> list[Event]:
        """The GlobalVersionPublished events of ``block``, which the contract says has some: a
        load-balanced node may serve the state before the block's logs, so wait a little."""
        deadline = time.monotonic() + self.rpc.retry_s
        while True:
            published = [e for e in self._events.read(block, block) if e.name == "GlobalVersionPublished"]
            if published:
                return published
            if time.monotonic() >= deadline:
                raise errors.LedgerError(f"the node serves no GlobalVersionPublished event in block {block}")
            time.sleep(0.05)

    def _block_time(self, block: int) -> int:
        return int(self.rpc(lambda: self.rpc.w3.eth.get_block(block))["timestamp"])


@dataclass(frozen=True)
class _CachedVersion:
    version: int
    block: int
    value: GlobalVersion
