"""The ledger: a training's FederatedLearning contract and the platform's contracts, from Python.

Public surface (the training engine and ``kafkaml audit`` code against these names)::

    from kafkaml.ledger import Ledger, UpdateOutcome, WeightsPointer

    token = Ledger.deploy_token(rpc_url, key)                     # once per platform: factory,
                                                                  # token, implementation -> token
    ledger = Ledger.deploy(rpc_url, key, token_address=token, settings_hash=h32,
                           weights_topic="...", strategy="fedasync", rounds=32)   # aggregator
        # one transaction: the platform's factory clones the implementation (own address)
    ledger = Ledger.open(rpc_url, contract_address, key)          # any account; key=None reads
                                                                  # ETH_WALLET_KEY(_FILE)
    ledger = Ledger.reader(rpc_url, contract_address)             # read-only, no key (audits)

    # aggregator
    ledger.register_clients([addr, ...]) -> list[str]             # only the new ones are sent
    ledger.start(genesis_hash, WeightsPointer(weights_topic, p, start, end))     # version 0
    ledger.wait_for_updates(minimum=1, timeout_s=600) -> list[SubmittedUpdate]  # back-off poll
    ledger.pending_updates() -> list[SubmittedUpdate]              # queue order (seq)
    ledger.record_round(new_hash, new_pointer, [UpdateOutcome(hash, accepted, reward, reason)])
        -> int                                                     # the new version; idempotent
    ledger.finish(); ledger.pay_rewards(clients=None)              # batch payout, caller-sized

    # client
    ledger.submit_update(base_version, content_hash, pointer, samples) -> SubmittedUpdate
        # idempotent by content hash: a restarted client gets its earlier submission back
    ledger.is_consumed(content_hash) -> bool                       # has a round taken it? one call
    ledger.claim() -> int                                          # pull payout after finish

    # reads
    ledger.latest_version() -> GlobalVersion(version, content_hash, pointer, timestamp)
        # one call while unchanged; the hash of a new version comes from its event
    ledger.is_active(); ledger.phase() -> Phase; ledger.queue_size(); ledger.info() -> TrainingInfo
    ledger.rewards_of(addr) (credited), ledger.unpaid_of(addr), ledger.token_balance(addr)
    ledger.clients(); ledger.history() -> Audit                    # rebuilt from events only
    ledger.platform() -> Platform(factory, token, implementation)

Rewards are integers in token base units (the token has 18 decimals). Global weights always
live in the training's ``weights_topic``; an update may point to any topic. Staleness of an
aggregated update is ``(version it was aggregated into - 1) - base_version``.

Errors: every contract revert raises a subclass of :class:`ContractRevert` named after the
contract's custom error (``Unauthorized``, ``NotRegisteredClient``, ``WrongPhase``,
``DuplicateUpdate``, ``StaleRecord``, ...); an unreachable node raises
:class:`LedgerUnavailable` after ``KAFKAML_ETH_RPC_RETRY_S``; a missing receipt
:class:`TransactionTimeout`. All derive from :class:`LedgerError`.
"""

from kafkaml.ledger.client import Ledger
from kafkaml.ledger.errors import (
    AlreadyInitialized,
    AlreadyRegistered,
    ContractRevert,
    DuplicateUpdate,
    EmptyRound,
    InvalidClient,
    InvalidHash,
    InvalidPointer,
    InvalidSamples,
    InvalidVerdict,
    LedgerError,
    LedgerUnavailable,
    NothingToClaim,
    NotRegisteredClient,
    RoundLimitReached,
    StaleRecord,
    TransactionTimeout,
    Unauthorized,
    UnknownBaseVersion,
    UnknownUpdate,
    WrongPhase,
)
from kafkaml.ledger.records import (
    Audit,
    AuditedUpdate,
    AuditedVersion,
    GlobalVersion,
    Phase,
    Platform,
    SubmittedUpdate,
    TrainingInfo,
    UpdateOutcome,
)
from kafkaml.pointers import WeightsPointer

__all__ = [
    "AlreadyInitialized",
    "AlreadyRegistered",
    "Audit",
    "AuditedUpdate",
    "AuditedVersion",
    "ContractRevert",
    "DuplicateUpdate",
    "EmptyRound",
    "GlobalVersion",
    "InvalidClient",
    "InvalidHash",
    "InvalidPointer",
    "InvalidSamples",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "NotRegisteredClient",
    "NothingToClaim",
    "Phase",
    "Platform",
    "InvalidVerdict",
    "RoundLimitReached",
    "StaleRecord",
    "SubmittedUpdate",
    "TrainingInfo",
    "TransactionTimeout",
    "Unauthorized",
    "UnknownBaseVersion",
    "UnknownUpdate",
    "UpdateOutcome",
    "WeightsPointer",
    "WrongPhase",
]
