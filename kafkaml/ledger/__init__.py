"""The ledger: a training's FederatedLearning contract and the platform's contracts, from Python.

Public surface: one class per holder of a key, as the least-privilege rule splits them (the
training engine, the services and ``kafkaml audit`` code against these names)::

    from kafkaml.ledger import AggregatorLedger, PlatformLedger, TrainerLedger, TrainingReader

    # the platform admin (PlatformLedger: static, each takes the node's address and the key)
    token = PlatformLedger.deploy_token(rpc_url, admin_key)        # once per platform: factory,
                                                                  # token, implementation -> token
    address = PlatformLedger.create_training(rpc_url, admin_key, token_address=token, aggregator=addr,
                                     settings_hash=h32, weights_topic="...", strategy="fedasync",
                                     rounds=32, budget=units)   # idempotent per aggregator: the
        # factory clones the implementation (own address) for that account
    PlatformLedger.fund(rpc_url, admin_key, addr, wei)             # gas money for a job's account
    PlatformLedger.fee_cap(rpc_url); PlatformLedger.sweep(rpc_url, key, to)  # gas price; empty an account
    PlatformLedger.factory_of(rpc_url, token)                      # the factory behind a token

    # the aggregator (the training's own account; key=None reads ETH_WALLET_KEY(_FILE))
    ledger = AggregatorLedger.open(rpc_url, contract_address, key)
    ledger.register_clients({addr: sample_ceiling, ...}) -> list[str]  # only new ones are sent
    ledger.start(genesis_hash, WeightsPointer(weights_topic, p, start, end), announcement_hash)
    ledger.wait_for_updates(minimum=1, timeout_s=600) -> list[SubmittedUpdate]  # back-off poll
    ledger.record_round(new_hash, new_pointer, [UpdateOutcome(hash, accepted, reward, reason,
                                                              client=addr, pointer=p)])
        -> int       # the new version; idempotent; each outcome must judge the queue's next submission
    ledger.record_rejections(outcomes) -> int                      # the queue's rejected head
    ledger.finish(); ledger.pay_rewards(clients=None, batch=100)   # bounded batches, resumable

    # a client (one pending update at a time, in its own topic: update_topic(weights_topic, addr))
    ledger = TrainerLedger.open(rpc_url, contract_address, key)
    ledger.submit_update(base_version, content_hash, pointer, samples) -> SubmittedUpdate
        # idempotent: a restarted client gets its pending submission of the same hash back
    ledger.has_pending() -> bool                                   # is my update queued? one call
    ledger.claim() -> int                                          # pull payout after finish

    # anybody, no key (the two above read through the same methods)
    reader = TrainingReader.open(rpc_url, contract_address)
    reader.latest_version() -> GlobalVersion(version, content_hash, pointer)
        # one call while unchanged; the hash of a new version comes from its event
    reader.client_state(addr) -> ClientState(phase, latest, pending)   # a trainer's poll: one call
    reader.is_active(); reader.phase() -> Phase; reader.queue_size(); reader.info() -> TrainingInfo
    reader.pending_updates() -> list[SubmittedUpdate]              # queue order (seq)
    reader.rewards_of(addr) (credited), reader.unpaid_of(addr), reader.token_balance(addr)
    reader.credited(), reader.sample_ceilings() -> {addr: ceiling}, reader.announcement_hash()
    reader.clients(); reader.is_client(addr); reader.has_pending(addr)
    reader.history() -> Audit                                      # from events only
    reader.platform() -> Platform(factory, token, implementation)  # checked: created by the factory
    reader.expect_platform(factory, token) -> Platform              # and by this platform's factory

Rewards are integers in token base units (the token has 18 decimals). Global weights always
live in the training's ``weights_topic``; a client's updates in its own update topic. Staleness of an
aggregated update is ``(version it was aggregated into - 1) - base_version``.

Errors: every contract revert raises a subclass of :class:`ContractRevert` named after the
contract's custom error (``Unauthorized``, ``NotRegisteredClient``, ``WrongPhase``,
``UpdatePending``, ``NotQueued``, ``BudgetExceeded``, ...); an unreachable node raises
:class:`LedgerUnavailable` after ``KAFKAML_ETH_RPC_RETRY_S``; a missing receipt
:class:`TransactionTimeout`. All derive from :class:`LedgerError`.
"""

from kafkaml.ledger.aggregator import AggregatorLedger
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
from kafkaml.ledger.factory import PlatformLedger
from kafkaml.ledger.reader import TrainingReader
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
    UpdateOutcome,
)
from kafkaml.ledger.trainer import TrainerLedger
from kafkaml.pointers import WeightsPointer

__all__ = [
    "AggregatorLedger",
    "PlatformLedger",
    "TrainerLedger",
    "TrainingReader",
    "AlreadyInitialized",
    "AlreadyRegistered",
    "Audit",
    "AuditedUpdate",
    "AuditedVersion",
    "ClientState",
    "ContractRevert",
    "BudgetExceeded",
    "EmptyRound",
    "GlobalVersion",
    "InvalidClient",
    "InvalidHash",
    "InvalidPointer",
    "InvalidSamples",
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
