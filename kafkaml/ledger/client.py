"""The :class:`Ledger`: one training's contract, driven from Python by the aggregator or a client.

Every write goes through :class:`~kafkaml.ledger.transactions.Sender` (receipt, status, typed
revert, retries). Reads of the queue come from events (what an auditor sees) cross-checked with
the contract's counters, so a client never trusts a half-read log range. Idempotency lives
here: :meth:`Ledger.submit_update` first asks the contract whether this account's update is
already queued, :meth:`Ledger.record_round` recognises a round it already recorded and
:meth:`Ledger.create_training` finds the training it created for an aggregator account, so a
job restarted mid-step repeats nothing.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from kafkaml.config import read_secret
from kafkaml.ledger import errors
from kafkaml.ledger.compiler import CONTRACTS, load_artifact
from kafkaml.ledger.events import Event, EventReader, pack_pointer, pack_update
from kafkaml.ledger.records import (
    MAX_BUDGET,
    Audit,
    AuditedUpdate,
    AuditedVersion,
    GlobalVersion,
    Phase,
    Platform,
    SubmittedUpdate,
    TrainingInfo,
    UpdateOutcome,
    decode_verdict,
)
from kafkaml.ledger.transactions import Rpc, Sender, current_fees, fee_cap, load_account
from kafkaml.pointers import WeightsPointer, check_hash
from kafkaml.topics import update_topic

log = logging.getLogger(__name__)

MAX_CHUNKS = 2**24 - 1  # the contract stores a global version's record count in 24 bits
PAYOUT_BATCH = 100  # clients paid per payRewards transaction: far below any block gas limit
# An EIP-1167 clone's code (OpenZeppelin Clones): prefix, implementation address, suffix, arguments.
_CLONE_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
_CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


@functools.cache
def _views() -> dict[str, tuple[bytes, tuple[str, ...], tuple[str, ...]]]:
    """Each view of the training contract: its selector, argument types and result types."""
    views = {}
    for item in _artifact("FederatedLearning")["abi"]:
        if item.get("type") == "function" and item.get("stateMutability") in ("view", "pure"):
            inputs = tuple(argument["type"] for argument in item["inputs"])
            outputs = tuple(result["type"] for result in item["outputs"])
            views[item["name"]] = (keccak(text=f"{item['name']}({','.join(inputs)})")[:4], inputs, outputs)
    return views


@functools.cache
def _artifact(name: str) -> dict[str, Any]:
    """Loaded on first use, so that ``contracts/build.py`` can import this package before a first build."""
    return load_artifact(name)


@functools.cache
def _decoder() -> errors.ErrorDecoder:
    return errors.ErrorDecoder(*(_artifact(name)["abi"] for name in CONTRACTS))


def _signer(rpc: Rpc, key: str | None) -> Sender:
    """A sender for ``key``, or for ETH_WALLET_KEY(_FILE) when no key is passed."""
    return Sender(rpc, load_account(key if key is not None else read_secret("ETH_WALLET_KEY")), _decoder())


def _factory(rpc: Rpc, address: str) -> Any:
    return rpc.w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=_artifact("TrainingFactory")["abi"]
    )


def _factory_of(rpc: Rpc, token_address: str) -> str:
    """The TrainingFactory that created the token at ``token_address`` (its ``factory()``)."""
    token = rpc.w3.eth.contract(
        address=Web3.to_checksum_address(token_address), abi=_artifact("RewardToken")["abi"]
    )
    if not rpc(lambda: rpc.w3.eth.get_code(token.address)):
        raise errors.LedgerError(f"no reward token at {token.address} on {rpc.public_url}")
    try:
        factory = rpc(lambda: token.functions.factory().call())
    except (ContractLogicError, BadFunctionCallOutput):
        raise errors.LedgerError(
            f"{token.address} is not a reward token created by a TrainingFactory"
        ) from None
    if not rpc(lambda: rpc.w3.eth.get_code(factory)):
        raise errors.LedgerError(f"the reward token at {token.address} was not created by a TrainingFactory")
    return factory


def _trainings_of(rpc: Rpc, factory: Any, aggregator: str) -> list[str]:
    """The trainings ``factory`` created for ``aggregator``, oldest first (TrainingCreated events)."""
    logs = rpc(lambda: factory.events.TrainingCreated().get_logs(
        from_block=0, argument_filters={"aggregator": aggregator}))
    return [Web3.to_checksum_address(entry["args"]["training"]) for entry in logs]


def deploy_contract(sender: Sender, artifact: dict[str, Any], args: list[Any], description: str) -> str:
    constructor = sender.rpc.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        *args
    )
    receipt = sender.transact({"data": constructor.data_in_transaction}, description)
    return Web3.to_checksum_address(receipt["contractAddress"])


class Ledger:
    """A training contract seen by one account (the aggregator's or a client's)."""

    def __init__(self, rpc: Rpc, sender: Sender | None, address: str) -> None:
        self.rpc = rpc
        self.sender = sender
        self.address = Web3.to_checksum_address(address)
        self.contract = rpc.w3.eth.contract(address=self.address, abi=_artifact("FederatedLearning")["abi"])
        self._events = EventReader(rpc, self.contract)
        self._info: TrainingInfo | None = None
        self._submissions: list[SubmittedUpdate] = []
        self._scanned_to = -1
        self._scan_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._latest: _CachedVersion | None = None
        self._implementation: str | None = None
        #: The hash and gas of this ledger's last transaction (what reports show per round).
        self.last_transaction: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Ledger({self.address} as {self.account or 'read-only'})"

    @property
    def account(self) -> str | None:
        """The address this ledger signs as (None for a read-only :meth:`reader`)."""
        return self.sender.address if self.sender else None

    # ---- creation ------------------------------------------------------------------------------

    @staticmethod
    def factory_of(rpc_url: str, token_address: str) -> str:
        """The TrainingFactory behind a platform's reward token; LedgerError if there is none."""
        return _factory_of(Rpc(rpc_url), token_address)

    @classmethod
    def deploy_token(cls, rpc_url: str, key: str | None = None) -> str:
        """Deploy the platform (once): its TrainingFactory, which creates the RewardToken and the
        FederatedLearning implementation; returns the token's address, through which
        :meth:`deploy` finds the factory. The key's account becomes the platform admin."""
        rpc = Rpc(rpc_url)
        sender = _signer(rpc, key)
        factory = deploy_contract(sender, _artifact("TrainingFactory"), [], "deploy the platform")
        token = rpc(lambda: _factory(rpc, factory).functions.token().call())
        log.info(
            "deployed the platform: factory %s, RewardToken %s (admin %s)", factory, token, sender.address
        )
        return Web3.to_checksum_address(token)

    @classmethod
    def create_training(
        cls,
        rpc_url: str,
        key: str | None = None,
        *,
        token_address: str,
        aggregator: str,
        settings_hash: bytes,
        weights_topic: str,
        strategy: str,
        rounds: int,
        budget: int,
    ) -> str:
        """Create a training through the platform's factory, in one transaction, as the platform
        admin (``key``); returns its address. ``aggregator`` is the account of its own that will
        aggregate it (never the admin); ``budget`` bounds what it can ever credit.

        Idempotent per aggregator account: when the factory already created a training for
        ``aggregator`` (e.g. before a crash that lost its address), that training is returned.
        """
        if not weights_topic or not strategy or not 0 < rounds < 2**32:
            raise ValueError("weights_topic and strategy must be non-empty and rounds in 1..2^32-1")
        if not 0 <= budget <= MAX_BUDGET:
            raise ValueError(f"a reward budget is between 0 and {MAX_BUDGET} base units, not {budget}")
        rpc = Rpc(rpc_url)
        sender = _signer(rpc, key)
        factory = _factory(rpc, _factory_of(rpc, token_address))
        aggregator = Web3.to_checksum_address(aggregator)
        existing = _trainings_of(rpc, factory, aggregator)
        if existing:
            info = cls(rpc, None, existing[-1]).info()
            wanted = (check_hash(settings_hash), weights_topic, strategy, rounds, budget)
            if (info.settings_hash, info.weights_topic, info.strategy, info.rounds, info.budget) != wanted:
                raise errors.LedgerError(f"the factory created training {existing[-1]} for aggregator {aggregator} "
                                         "with other parameters: an aggregator account serves one training")
            log.info("the factory already created training %s for aggregator %s", existing[-1], aggregator)
            return existing[-1]
        receipt = sender.transact(
            {
                "to": factory.address,
                "data": factory.encode_abi(
                    "createTraining",
                    args=[aggregator, check_hash(settings_hash), weights_topic, strategy, rounds, budget],
                ),
            },
            "create a training",
        )
        created = factory.events.TrainingCreated().process_receipt(receipt, errors=DISCARD)
        address = Web3.to_checksum_address(created[0]["args"]["training"])
        log.info("created training %s (aggregator %s, %d rounds, strategy %s, budget %d)",
                 address, aggregator, rounds, strategy, budget)
        return address

    @staticmethod
    def fund(rpc_url: str, key: str | None, address: str, wei: int) -> None:
        """Send ``wei`` from the key's account to ``address`` (gas money for a job's own account)."""
        sender = _signer(Rpc(rpc_url), key)
        sender.transact({"to": Web3.to_checksum_address(address), "value": wei, "data": b""},
                        f"fund {address}")

    @staticmethod
    def sweep(rpc_url: str, key: str, to: str) -> int:
        """Send everything the key's account holds, less the transfer's own fee, to ``to`` (what a
        training's aggregator account returns to the platform); the wei sent, 0 when nothing is left."""
        return _signer(Rpc(rpc_url), key).sweep(Web3.to_checksum_address(to))

    @staticmethod
    def fee_cap(rpc_url: str) -> int:
        """The most wei per gas a transaction sent now may pay (what the node's fees ask, with the
        room for the base fee to double that every sender here leaves)."""
        return fee_cap(current_fees(Rpc(rpc_url)))

    @classmethod
    def open(cls, rpc_url: str, contract_address: str, key: str | None = None) -> Ledger:
        """Open an existing training as the key's account (ETH_WALLET_KEY(_FILE) by default)."""
        rpc = Rpc(rpc_url)
        return cls(rpc, _signer(rpc, key), contract_address)._with_code()

    @classmethod
    def reader(cls, rpc_url: str, contract_address: str) -> Ledger:
        """A read-only view (no key): for audits. Writing through it fails at the first call."""
        return cls(Rpc(rpc_url), None, contract_address)._with_code()

    # ---- aggregator ----------------------------------------------------------------------------

    def register_clients(self, ceilings: Mapping[str, int]) -> list[str]:
        """Register the clients not registered yet, each with its sample ceiling (the platform's
        count of the data it matched; 1 for every client weighs updates equally); returns those
        newly registered."""
        wanted = {Web3.to_checksum_address(a): int(c) for a, c in ceilings.items()}
        for address, ceiling in wanted.items():
            if not 0 < ceiling < 2**32:
                raise ValueError(f"the sample ceiling of {address} must be in 1..2^32-1, not {ceiling}")
        new = [a for a in wanted if not self.is_client(a)]
        if new:
            self._transact("registerClients", [new, [wanted[a] for a in new]], f"register {len(new)} clients")
        return new

    def start(self, genesis_hash: bytes, pointer: WeightsPointer, announcement_hash: bytes) -> None:
        """Publish the genesis model as version 0, record the announcement's hash, activate."""
        self._check_global_pointer(pointer)
        self._transact(
            "start",
            [check_hash(genesis_hash), _pointer_word(pointer), check_hash(announcement_hash)],
            "start the training",
        )

    def record_round(
        self, new_hash: bytes, new_pointer: WeightsPointer, outcomes: list[UpdateOutcome]
    ) -> int:
        """Publish the next global version from the oldest queued updates (in queue order); returns it.

        Idempotent: when the first update is already consumed by a version with ``new_hash`` (this
        call ran before, e.g. before a restart), that version is returned without a transaction.
        """
        check_hash(new_hash)
        self._check_global_pointer(new_pointer)
        if not outcomes:
            raise ValueError("a round consumes at least one update")
        pending = self.pending_updates()
        if not pending or not outcomes[0].judges(pending[0]):
            done = self._version_with_hash(new_hash)
            if done is not None:
                log.info("round for version %d was already recorded; not sending it again", done)
                return done
            raise errors.LedgerError(
                f"update 0x{outcomes[0].content_hash.hex()} is not the oldest queued update: the round "
                "must consume the queue in order"
            )
        if len(pending) < len(outcomes):
            raise errors.LedgerError(f"a round of {len(outcomes)} updates, but {len(pending)} are queued")
        for update, outcome in zip(pending, outcomes, strict=False):
            if not outcome.judges(update):
                raise errors.LedgerError(
                    f"outcome for 0x{outcome.content_hash.hex()} ({outcome.client or 'any client'}) does not match "
                    f"queued update {update.seq} (0x{update.content_hash.hex()} from {update.client})"
                )
        encoded = [(update.client, outcome.verdict()) for update, outcome in zip(pending, outcomes, strict=False)]
        receipt = self._transact(
            "recordRound",
            [new_hash, _pointer_word(new_pointer), encoded],
            f"record a round of {len(outcomes)} updates",
        )
        return self._published_version(new_hash, receipt["blockNumber"])

    def record_rejections(self, outcomes: list[UpdateOutcome]) -> int:
        """Consume the oldest queued updates, all rejected, without a new version (the contract's
        ``recordRejections``); returns how many this call consumed.

        Idempotent: outcomes whose updates were consumed already (this call ran before a
        restart) are skipped, and nothing is sent when none is left.
        """
        if any(outcome.accepted for outcome in outcomes):
            raise ValueError("record_rejections takes rejected updates only")
        pending = self.pending_updates()
        left = [outcome for outcome in outcomes
                if any(outcome.judges(update) for update in pending)]
        if not left:
            return 0
        for update, outcome in zip(pending, left, strict=False):
            if not outcome.judges(update):
                raise errors.LedgerError(
                    f"rejection of 0x{outcome.content_hash.hex()} ({outcome.client or 'any client'}) does not match "
                    f"queued update {update.seq} (0x{update.content_hash.hex()} from {update.client}): rejections "
                    "are recorded from the head of the queue"
                )
        encoded = [(update.client, outcome.verdict()) for update, outcome in zip(pending, left, strict=False)]
        self._transact("recordRejections", [encoded], f"record {len(left)} rejected updates")
        return len(left)

    def finish(self) -> None:
        self._transact("finish", [], "finish the training")

    def pay_rewards(self, clients: Iterable[str] | None = None, batch: int = PAYOUT_BATCH) -> None:
        """Mint the unpaid rewards of ``clients`` (default: every registered client), ``batch``
        clients per transaction so that no payout outgrows a block. Resumable: a client already
        paid is skipped, so calling again after a crash pays only who is left."""
        targets = [Web3.to_checksum_address(c) for c in (clients if clients is not None else self.clients())]
        unpaid = [c for c in targets if self.unpaid_of(c) > 0]
        for first in range(0, len(unpaid), batch):
            part = unpaid[first:first + batch]
            self._transact("payRewards", [part], f"pay the rewards of {len(part)} clients")

    # ---- clients -------------------------------------------------------------------------------

    def submit_update(
        self, base_version: int, content_hash: bytes, pointer: WeightsPointer, samples: int
    ) -> SubmittedUpdate:
        """Queue an update, whose weights must be in this account's update topic; if this account
        submitted this very hash before, queued or already consumed (a restarted client, or a
        second trainer of the same client that computed the same update), return that submission
        instead: the aggregator would only reject it as a duplicate, and a queued duplicate holds
        the account's one pending place until a round consumes it.
        Raises :class:`~kafkaml.ledger.errors.UpdatePending` while another update of this
        account waits in the queue."""
        check_hash(content_hash)
        expected_topic = update_topic(self.info().weights_topic, self.account or "")
        if pointer.topic != expected_topic:
            raise ValueError(f"this client's updates live in {expected_topic!r}, not {pointer.topic!r}")
        word = pack_update(base_version, samples, pointer.partition, pointer.start_offset, pointer.end_offset)
        with self._submit_lock:
            existing = self._own_submission(bytes(content_hash))
            if existing is not None:
                log.info("update 0x%s was submitted already (seq %d); not submitting it again",
                         content_hash.hex(), existing.seq)
                return existing
            receipt = self._transact("submitUpdate", [content_hash, word],
                                     f"submit update based on version {base_version}")
        seq = self._view("pendingOf", self.account)[1]
        capped = min(samples, int(self._view("sampleCeilingOf", self.account)))
        return SubmittedUpdate(
            seq,
            self.account,
            base_version,
            bytes(content_hash),
            pointer,
            capped,
            receipt["blockNumber"],
            bytes(receipt["transactionHash"]),
        )

    def claim(self) -> int:
        """Mint this account's unpaid reward to it (after the training); returns the amount."""
        amount = self.unpaid_of(self.account)
        self._transact("claim", [], "claim rewards")
        return amount

    # ---- reads ---------------------------------------------------------------------------------

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
        implementation = self._access_list()[0]["address"]
        token = self.info().token
        factory_address = _factory_of(self.rpc, token)
        factory = _factory(self.rpc, factory_address)
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

    def phase(self) -> Phase:
        return Phase(self._view("phase"))

    def is_active(self) -> bool:
        return bool(self._view("isActive"))

    def queue_size(self) -> int:
        return int(self._view("queueSize"))

    def latest_version(self) -> GlobalVersion:
        """The newest global version. Clients poll this, so it costs one call while nothing
        changed; a new version costs one more for its hash (kept only in its event, see
        docs/ledger.md) and one for its block time."""
        version, partition, start, end, block = self._view("latestVersion")
        if block == 0:  # start() publishes version 0; before it there is none
            raise errors.WrongPhase("WrongPhase", {}, message="the training has not published a version yet")
        cached = self._latest
        if cached is not None and (cached.version, cached.block) == (version, block):
            return cached.value
        published = self._published_in(block)
        latest = GlobalVersion(
            version,
            bytes(published[-1].args["contentHash"]),
            WeightsPointer(self.info().weights_topic, partition, start, end),
            self._block_time(block),
        )
        self._latest = _CachedVersion(version, block, latest)
        return latest

    def has_pending(self, address: str | None = None) -> bool:
        """Whether the account (default: this one) has an update waiting in the queue (one call)."""
        address = address or self.account
        if address is None:
            raise ValueError("a read-only ledger has no account of its own: name the address")
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
        token = self.rpc.w3.eth.contract(address=self.info().token, abi=_artifact("RewardToken")["abi"])
        account = Web3.to_checksum_address(address)
        return int(self.rpc(lambda: token.functions.balanceOf(account).call(block_identifier=block)))

    def clients(self) -> list[str]:
        return [e.args["client"] for e in self._all_events() if e.name == "ClientRegistered"]

    def pending_updates(self) -> list[SubmittedUpdate]:
        """The queued, not yet aggregated updates, oldest first."""
        submitted, consumed = self._view("queueCounters")
        return self._submissions_up_to(submitted)[consumed:submitted]

    def wait_for_updates(self, minimum: int = 1, timeout_s: float = 600.0) -> list[SubmittedUpdate]:
        """Block until at least ``minimum`` updates are queued (polling with back-off); returns them.

        Raises TimeoutError after ``timeout_s``, or WrongPhase if the training stops meanwhile.
        """
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        for poll in itertools.count():
            if self.queue_size() >= minimum:
                return self.pending_updates()
            # Only a finish() empties the wait for good; asking on every poll would double the calls.
            if poll % 4 == 3 and self.phase() != Phase.ACTIVE:
                raise errors.WrongPhase(
                    "WrongPhase", {}, message=f"the training is {self.phase().name.lower()}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"fewer than {minimum} updates queued after {timeout_s:.0f} s")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, self.rpc.poll_max_s)

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
                        _pointer(update_topic(info.weights_topic, a["client"]), a),
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
                        _pointer(info.weights_topic, a),
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

    # ---- internals -----------------------------------------------------------------------------

    def _with_code(self) -> Ledger:
        if not self.rpc(lambda: self.rpc.w3.eth.get_code(self.address)):
            raise errors.LedgerError(f"no contract at {self.address} on {self.rpc.public_url}")
        return self

    def _view(self, name: str, *args: Any) -> Any:
        """One ``eth_call`` of a view of the training, encoded and decoded here. Trainers and the
        aggregator poll these views; web3's contract call spends several times the processor time
        of the round trip itself on its middleware and formatters, and on a 2-core machine that
        time is taken from training."""
        selector, inputs, outputs = _views()[name]
        data = "0x" + (selector + abi_encode(inputs, args)).hex()
        response = self.rpc(lambda: self.rpc.w3.provider.make_request(
            RPCEndpoint("eth_call"), [{"to": self.address, "data": data}, "latest"]))
        if "error" in response:
            error = response["error"]
            if isinstance(error, dict) and error.get("data"):
                raise _decoder().decode(error["data"])
            raise errors.LedgerError(f"{name}() failed on {self.rpc.public_url}: {error}")
        values = [Web3.to_checksum_address(value) if kind == "address" else value
                  for kind, value in zip(outputs, abi_decode(outputs, bytes.fromhex(response["result"][2:])),
                                         strict=True)]
        return values[0] if len(values) == 1 else values

    def _transact(self, name: str, args: list[Any], description: str) -> dict[str, Any]:
        if self.sender is None:
            raise errors.LedgerError(f"{description}: this ledger was opened read-only (no key)")
        data = self.contract.encode_abi(name, args=args)
        call = {"to": self.address, "data": data, "accessList": self._access_list()}
        receipt = self.sender.transact(call, description)
        self.last_transaction = {"hash": "0x" + bytes(receipt["transactionHash"]).hex(),
                                 "gas": int(receipt["gasUsed"]), "block": int(receipt["blockNumber"])}
        return receipt

    def _access_list(self) -> list[dict[str, Any]]:
        """Every call of a clone delegates to its implementation, whose address is cold in each
        transaction (2,600 gas); named in the access list it costs 2,500. Storage keys are not
        listed: they belong to the clone, which the transaction already warms, and listing
        them would add the clone's own 2,400."""
        if self._implementation is None:
            code = bytes(self.rpc(lambda: self.rpc.w3.eth.get_code(self.address)))
            if not (code.startswith(_CLONE_PREFIX) and code[30:45] == _CLONE_SUFFIX):
                raise errors.LedgerError(f"{self.address} is not a training clone of a TrainingFactory")
            self._implementation = Web3.to_checksum_address(code[10:30])
        return [{"address": self._implementation, "storageKeys": []}]

    def _check_global_pointer(self, pointer: WeightsPointer) -> None:
        if pointer.topic != self.info().weights_topic:
            raise ValueError(
                f"global weights live in the training's topic {self.info().weights_topic!r}, "
                f"not {pointer.topic!r}"
            )
        if pointer.chunk_count > MAX_CHUNKS:
            raise ValueError(f"a global version may span at most {MAX_CHUNKS} records")

    def _own_submission(self, content_hash: bytes) -> SubmittedUpdate | None:
        """This account's latest submission of ``content_hash``, as its event recorded it (None if none)."""
        submitted, _ = self._view("queueCounters")
        account = (self.account or "").lower()
        mine = [s for s in self._submissions_up_to(submitted)
                if s.client.lower() == account and s.content_hash == content_hash]
        return mine[-1] if mine else None

    def _submissions_up_to(self, count: int) -> list[SubmittedUpdate]:
        """The first ``count`` submissions in queue order, scanning only blocks not read before."""
        deadline = time.monotonic() + self.rpc.retry_s
        with self._scan_lock:
            latest = self.rpc.block_number()
            if latest < self._scanned_to or len(self._submissions) > count:
                # the node went back in time (restart): re-read
                self._submissions, self._scanned_to = [], -1
            while True:
                latest = max(latest, self.rpc.block_number())  # a retry must see blocks mined since
                start = max(self._scanned_to + 1, self.info().created_block)
                topic = self.info().weights_topic
                for event in self._events.read(start, latest):
                    if event.name == "UpdateSubmitted":
                        self._submissions.append(_submission(len(self._submissions), event, topic))
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

    def _version_with_hash(self, content_hash: bytes) -> int | None:
        published = [e for e in self._all_events() if e.name == "GlobalVersionPublished"]
        for version, event in enumerate(published):
            if bytes(event.args["contentHash"]) == content_hash:
                return version
        return None

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

    def _published_version(self, content_hash: bytes, block: int) -> int:
        """The version a round mined in ``block`` published (the event does not carry the number):
        the versions published in one block are the last ones the contract counts at its end."""
        function = self.contract.functions.latestVersion()
        last_version = int(self.rpc(lambda: function.call(block_identifier=block))[0])
        hashes = [bytes(e.args["contentHash"]) for e in self._published_in(block)]
        if content_hash not in hashes:
            raise errors.LedgerError(f"no version with hash 0x{content_hash.hex()} in block {block}")
        return last_version - (len(hashes) - 1 - hashes.index(content_hash))

    def _block_time(self, block: int) -> int:
        return int(self.rpc(lambda: self.rpc.w3.eth.get_block(block))["timestamp"])


def _pointer_word(pointer: WeightsPointer) -> int:
    return pack_pointer(pointer.partition, pointer.start_offset, pointer.end_offset)


def _pointer(topic: str, args: dict[str, Any]) -> WeightsPointer:
    return WeightsPointer(topic, args["partition"], args["startOffset"], args["endOffset"])


@dataclass(frozen=True)
class _CachedVersion:
    version: int
    block: int
    value: GlobalVersion


def _submission(seq: int, event: Event, weights_topic: str) -> SubmittedUpdate:
    a = event.args
    return SubmittedUpdate(
        seq,
        a["client"],
        a["baseVersion"],
        bytes(a["contentHash"]),
        _pointer(update_topic(weights_topic, a["client"]), a),
        a["samples"],
        event.block,
        event.tx_hash,
    )
