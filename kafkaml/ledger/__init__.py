"""The ledger: a training's FederatedLearning contract and the platform's contracts, from Python.

Public surface (the training engine and ``kafkaml audit`` code against these names)::

    from kafkaml.ledger import Ledger, UpdateOutcome, WeightsPointer

    token = Ledger.deploy_token(rpc_url, admin_key)               # once per platform: factory,
                                                                  # token, implementation -> token
    address = Ledger.create_training(rpc_url, admin_key, token_address=token, aggregator=addr,
                                     settings_hash=h32, weights_topic="...", strategy="fedasync",
                                     rounds=32, budget=units)   # platform admin, idempotent per
        # aggregator: the factory clones the implementation (own address) for that account
    Ledger.fund(rpc_url, admin_key, addr, wei)                    # gas money for a job's account
    ledger = Ledger.open(rpc_url, contract_address, key)          # any account; key=None reads
                                                                  # ETH_WALLET_KEY(_FILE)
    ledger = Ledger.reader(rpc_url, contract_address)             # read-only, no key (audits)

    # aggregator (the training's own account)
    ledger.register_clients({addr: sample_ceiling, ...}) -> list[str]  # only new ones are sent
    ledger.start(genesis_hash, WeightsPointer(weights_topic, p, start, end), announcement_hash)
    ledger.wait_for_updates(minimum=1, timeout_s=600) -> list[SubmittedUpdate]  # back-off poll
    ledger.pending_updates() -> list[SubmittedUpdate]              # queue order (seq)
    ledger.record_round(new_hash, new_pointer, [UpdateOutcome(hash, accepted, reward, reason,
                                                              client=addr, pointer=p)])
        -> int       # the new version; idempotent; each outcome must judge the queue's next submission
    ledger.finish(); ledger.pay_rewards(clients=None, batch=100)   # bounded batches, resumable

    # client (one pending update at a time, in its own topic: update_topic(weights_topic, addr))
    ledger.submit_update(base_version, content_hash, pointer, samples) -> SubmittedUpdate
        # idempotent: a restarted client gets its pending submission of the same hash back
    ledger.has_pending() -> bool                                   # is my update queued? one call
    ledger.claim() -> int                                          # pull payout after finish

    # reads
    ledger.latest_version() -> GlobalVersion(version, content_hash, pointer, timestamp)
        # one call while unchanged; the hash of a new version comes from its event
    ledger.is_active(); ledger.phase() -> Phase; ledger.queue_size(); ledger.info() -> TrainingInfo
    ledger.rewards_of(addr) (credited), ledger.unpaid_of(addr), ledger.token_balance(addr)
    ledger.credited(), ledger.sample_ceilings() -> {addr: ceiling}, ledger.announcement_hash()
    ledger.clients(); ledger.is_client(addr); ledger.history() -> Audit  # history: from events only
    ledger.platform() -> Platform(factory, token, implementation)  # checked: created by the factory
    ledger.expect_platform(factory, token) -> Platform              # and by this platform's factory
    Ledger.fee_cap(rpc_url); Ledger.sweep(rpc_url, key, to)        # gas price now; empty an account

Rewards are integers in token base units (the token has 18 decimals). Global weights always
live in the training's ``weights_topic``; a client's updates in its own update topic. Staleness of an
aggregated update is ``(version it was aggregated into - 1) - base_version``.

Errors: every contract revert raises a subclass of :class:`ContractRevert` named after the
contract's custom error (``Unauthorized``, ``NotRegisteredClient``, ``WrongPhase``,
``UpdatePending``, ``NotQueued``, ``BudgetExceeded``, ...); an unreachable node raises
:class:`LedgerUnavailable` after ``KAFKAML_ETH_RPC_RETRY_S``; a missing receipt
:class:`TransactionTimeout`. All derive from :class:`LedgerError`.
"""

from kafkaml.ledger.client import Ledger
from kafkaml.ledger.errors import (
    AlreadyInitialized,
    AlreadyRegistered,
    BudgetExceeded,
    ContractRevert,
    EmptyRound,
    InvalidClient,
    InvalidHash,
    InvalidPointer,
    InvalidSamples,
    InvalidVerdict,
    LedgerError,
    LedgerUnavailable,
    NothingToClaim,
    NotQueued,
    NotRegisteredClient,
    RoundLimitReached,
    TransactionTimeout,
    Unauthorized,
    UnknownBaseVersion,
    UpdatePending,
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
    "BudgetExceeded",
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
    "NotQueued",
    "SubmittedUpdate",
    "TrainingInfo",
    "TransactionTimeout",
    "Unauthorized",
    "UnknownBaseVersion",
    "UpdatePending",
    "UpdateOutcome",
    "WeightsPointer",
    "WrongPhase",
]
