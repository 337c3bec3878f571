// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {RewardToken} from "./RewardToken.sol";

/// @title One asynchronous federated training: its update queue, global versions and rewards.
/// @notice Each training is a minimal-proxy clone of one implementation per platform, created
/// and initialised by the platform's TrainingFactory (see TrainingFactory.sol) for an aggregator
/// account of its own: that account can act on this training only, and the platform admin who
/// created it cannot act on it at all. The aggregator registers the clients with a per-client
/// sample ceiling, publishes global model versions and records which queued updates each version
/// consumed and what they earned, within a reward budget fixed at creation. Registered clients
/// submit updates (a content hash and a Kafka pointer to the weights), at most one pending at a
/// time each. Rewards are paid in the platform's RewardToken after the training.
/// @dev Gas is the design constraint (see docs/ledger.md). Everything an auditor needs travels in
/// events; storage holds one packed slot of state (phase, counters, the latest version's Kafka
/// pointer and the block that published it), one slot per client (registration, its pending
/// update's queue position, its sample ceiling, rewards earned and paid) and the total credited.
/// A client's pending update lives in the client's own slot, which each submission rewrites:
/// no slot is created per update. Global content hashes live only in GlobalVersionPublished
/// events: nothing on chain reads them back, and a reader finds the latest one in the block
/// `latestVersion()` names. Loops run only over arrays the caller passes, so the caller bounds
/// them. The fixed parameters (aggregator, token, rounds, creation block, settings hash, reward
/// budget) are the clone's immutable arguments, read from its own code.
contract FederatedLearning {
    /// `Uninitialized` exists only inside the transaction that creates a clone.
    enum Phase {
        Uninitialized,
        Configured,
        Active,
        Finished
    }

    /// Everything a round reads and writes, packed into exactly one storage slot.
    struct State {
        Phase phase;
        uint32 version; // latest global version; 0 is the genesis model
        uint32 submitted; // updates ever queued; the next update's sequence number
        uint32 consumed; // updates ever aggregated; the queue's head
        uint32 publishedBlock; // block that published the latest version (0: none yet)
        uint32 partition; // latest version's Kafka pointer: partition,
        uint64 startOffset; // first offset,
        uint24 chunks; // and record count (end offset - start offset)
    }

    /// A registered client, in one slot. Its pending update (at most one) is the queue's
    /// `seq`-th; the queue is FIFO, so a round consumes it when `seq` is the queue's head.
    struct Member {
        bool registered;
        bool pending;
        uint32 seq;
        uint32 sampleCeiling; // the platform's count of the client's data: reported samples are capped to it
        uint88 earned;
        uint88 paid;
    }

    /// The aggregator's verdict on the client's pending update, in queue order. `verdict` is one
    /// word, as calldata is priced by the byte: below 2^88 it is the reward of an accepted update
    /// (0 is an accepted update that earned nothing); otherwise it is the short left-aligned
    /// ASCII reason of a rejected one (e.g. "stale", "hash_mismatch"), whose first byte is not 0.
    struct Outcome {
        address client;
        bytes32 verdict;
    }

    /// The factory that deployed this implementation: the only caller of `initialize`.
    address private immutable _factory;

    State private _state;
    mapping(address client => Member) private _members;
    uint256 private _credited; // rewards ever credited; never above budget()

    /// Aggregator, token and budget are the clone's immutable arguments (`aggregator()`, ...).
    event TrainingConfigured(
        bytes32 settingsHash,
        string weightsTopic,
        string strategy,
        uint32 rounds
    );
    /// `sampleCeiling` caps the sample count of every update of the client (1 for every client:
    /// updates weigh equally).
    event ClientRegistered(address indexed client, uint32 sampleCeiling);
    /// The training opened: `announcementHash` is the SHA-256 of the model announcement the
    /// aggregator publishes on the platform's model control topic; clients trust an announcement
    /// only when its hash is this one.
    event TrainingStarted(bytes32 announcementHash);
    event PhaseChanged(Phase phase);
    /// Event data costs 8 gas a byte and every ABI field takes 32 bytes, so the small numbers
    /// travel packed into one word each (layouts below; `kafkaml.ledger.events` unpacks them).
    ///
    /// `update` = baseVersion << 192 | samples << 160 | partition << 128 | startOffset << 64 |
    /// endOffset, in the client's update topic `<weightsTopic>.<client address in lower case>`
    /// (fixed by the client's address, so no client can point into another's topic). `samples`
    /// is the reported count capped to the client's ceiling.
    event UpdateSubmitted(address indexed client, bytes32 contentHash, uint256 update);
    /// `pointer` = partition << 128 | startOffset << 64 | endOffset, in the training's weights
    /// topic. Versions are numbered in publication order: the n-th of these events is version n - 1.
    event GlobalVersionPublished(bytes32 contentHash, uint256 pointer);
    /// A round's verdicts, one per consumed update in queue order (the queue is FIFO, so the k-th
    /// verdict ever is about the k-th update ever submitted), precede the GlobalVersionPublished
    /// event of the version they went into. `verdict` is the round's Outcome verdict.
    event UpdateVerdict(bytes32 verdict);
    event RewardPaid(address indexed client, uint256 amount);

    error Unauthorized(address caller);
    error NotRegisteredClient(address caller);
    error WrongPhase(Phase expected, Phase actual);
    error InvalidClient(address client);
    error AlreadyRegistered(address client);
    error InvalidHash();
    error InvalidPointer();
    error InvalidSamples();
    error UnknownBaseVersion(uint32 baseVersion, uint32 latestVersion);
    error UpdatePending(address client, uint32 seq);
    error EmptyRound();
    error NotQueued(address client, uint32 expectedSeq);
    error InvalidVerdict(address client);
    error BudgetExceeded(uint256 credited, uint256 budget);
    error RoundLimitReached(uint32 rounds);
    error NothingToClaim(address client);
    error AlreadyInitialized();

    modifier onlyAggregator() {
        if (msg.sender != aggregator()) revert Unauthorized(msg.sender);
        _;
    }

    /// @dev Runs once, for the implementation, which it leaves initialised and finished: nothing
    /// can be done with the implementation itself, only with its clones.
    constructor() {
        _factory = msg.sender;
        _state.phase = Phase.Finished;
    }

    /// @notice Called once by the factory in the transaction that creates the clone; records
    /// the training's parameters in its TrainingConfigured event.
    function initialize(string calldata weightsTopic, string calldata strategy) external {
        if (msg.sender != _factory) revert Unauthorized(msg.sender);
        if (_state.phase != Phase.Uninitialized) revert AlreadyInitialized();
        if (settingsHash() == bytes32(0)) revert InvalidHash();
        _state.phase = Phase.Configured;
        emit TrainingConfigured(settingsHash(), weightsTopic, strategy, rounds());
    }

    // ---- aggregator ------------------------------------------------------------------------

    /// @notice Register clients allowed to submit updates (before or during the training), each
    /// with the platform's sample ceiling (the size of the datasource it matched; 1 for all
    /// clients weighs updates equally).
    function registerClients(address[] calldata clients, uint32[] calldata sampleCeilings) external onlyAggregator {
        if (_state.phase == Phase.Finished) revert WrongPhase(Phase.Active, Phase.Finished);
        if (clients.length != sampleCeilings.length) revert InvalidSamples();
        for (uint256 i = 0; i < clients.length; ++i) {
            address client = clients[i];
            if (client == address(0) || client == msg.sender) revert InvalidClient(client);
            if (sampleCeilings[i] == 0) revert InvalidSamples();
            Member storage member = _members[client];
            if (member.registered) revert AlreadyRegistered(client);
            member.registered = true;
            member.sampleCeiling = sampleCeilings[i];
            emit ClientRegistered(client, sampleCeilings[i]);
        }
    }

    /// @notice Publish the genesis model as version 0, record the hash of the model announcement
    /// and open the queue. `pointer` is packed as in GlobalVersionPublished.
    function start(bytes32 genesisHash, uint256 pointer, bytes32 announcementHash) external onlyAggregator {
        State memory s = _state;
        _requirePhase(s, Phase.Configured);
        if (announcementHash == bytes32(0)) revert InvalidHash();
        s.phase = Phase.Active;
        _publish(s, genesisHash, pointer);
        emit TrainingStarted(announcementHash);
    }

    /// @notice Publish the next global version, built from the oldest `outcomes.length` queued
    /// updates (in queue order, each named by its client), and credit their rewards within the
    /// budget. One transaction per round. `pointer` is packed as in GlobalVersionPublished.
    function recordRound(bytes32 contentHash, uint256 pointer, Outcome[] calldata outcomes)
        external
        returns (uint32 version)
    {
        (address aggregator_, uint32 maxRounds) = _aggregatorAndRounds();
        if (msg.sender != aggregator_) revert Unauthorized(msg.sender);
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        if (outcomes.length == 0) revert EmptyRound();
        if (s.version >= maxRounds) revert RoundLimitReached(maxRounds);
        version = s.version + 1;
        uint256 credited = _consume(s, outcomes, false);
        if (credited > 0) {
            credited += _credited;
            uint256 budget_ = budget();
            if (credited > budget_) revert BudgetExceeded(credited, budget_);
            _credited = credited;
        }
        s.version = version;
        _publish(s, contentHash, pointer);
    }

    /// @notice Consume the oldest `outcomes.length` queued updates, every one rejected, without a
    /// new version: a round that cannot be made yet must not keep their clients from submitting
    /// again (each client has one place in the queue). Their UpdateVerdict events precede the
    /// next GlobalVersionPublished event, like that round's own.
    function recordRejections(Outcome[] calldata outcomes) external onlyAggregator {
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        if (outcomes.length == 0) revert EmptyRound();
        _consume(s, outcomes, true);
        _state = s;
    }

    /// @notice Close the queue; credited rewards become payable.
    function finish() external onlyAggregator {
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        _state.phase = Phase.Finished;
        emit PhaseChanged(Phase.Finished);
    }

    /// @notice Pay the unpaid rewards of `clients` (a batch the caller sizes) after the training.
    function payRewards(address[] calldata clients) external onlyAggregator {
        _requirePhase(_state, Phase.Finished);
        for (uint256 i = 0; i < clients.length; ++i) {
            _pay(clients[i]);
        }
    }

    // ---- clients ---------------------------------------------------------------------------

    /// @notice Queue an update: `update` packs its base version, sample count and the Kafka pointer
    /// to its weights (with SHA-256 `contentHash`) in the caller's update topic, as in
    /// UpdateSubmitted. A client has at most one update pending: the next may follow once a
    /// round consumed it (accepted or rejected).
    function submitUpdate(bytes32 contentHash, uint256 update) external {
        Member memory member = _members[msg.sender];
        if (!member.registered) revert NotRegisteredClient(msg.sender);
        if (member.pending) revert UpdatePending(msg.sender, member.seq);
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        uint32 baseVersion = uint32(update >> 192);
        if (baseVersion > s.version) revert UnknownBaseVersion(baseVersion, s.version);
        if (contentHash == bytes32(0)) revert InvalidHash();
        uint32 samples = uint32(update >> 160);
        if (samples == 0) revert InvalidSamples();
        if (update >> 224 != 0 || uint64(update) <= uint64(update >> 64)) revert InvalidPointer();
        if (samples > member.sampleCeiling) {
            update = (update & ~(uint256(type(uint32).max) << 160)) | (uint256(member.sampleCeiling) << 160);
        }
        member.pending = true;
        member.seq = s.submitted;
        _members[msg.sender] = member;
        _state.submitted = s.submitted + 1;
        emit UpdateSubmitted(msg.sender, contentHash, update);
    }

    /// @notice Mint the caller's unpaid rewards to the caller after the training.
    function claim() external {
        if (!_members[msg.sender].registered) revert NotRegisteredClient(msg.sender);
        _requirePhase(_state, Phase.Finished);
        if (_pay(msg.sender) == 0) revert NothingToClaim(msg.sender);
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The account that alone aggregates this training (created for it by the platform).
    function aggregator() public view returns (address) {
        return address(uint160(uint256(_cloneArg(0, 20))));
    }

    function token() public view returns (RewardToken) {
        return RewardToken(address(uint160(uint256(_cloneArg(20, 20)))));
    }

    function rounds() public view returns (uint32) {
        return uint32(uint256(_cloneArg(40, 4)));
    }

    /// The block that created the training: where readers start scanning its events.
    function createdAt() external view returns (uint256) {
        return uint256(_cloneArg(44, 8));
    }

    function settingsHash() public view returns (bytes32) {
        return _cloneArg(52, 32);
    }

    /// The most this training can ever credit, in token base units.
    function budget() public view returns (uint256) {
        return uint256(_cloneArg(84, 12));
    }

    function credited() external view returns (uint256) {
        return _credited;
    }

    function phase() external view returns (Phase) {
        return _state.phase;
    }

    function isActive() external view returns (bool) {
        return _state.phase == Phase.Active;
    }

    /// The latest version's number and Kafka pointer, and the block whose last
    /// GlobalVersionPublished event of this training carries its content hash.
    function latestVersion()
        external
        view
        returns (uint32 version, uint32 partition, uint64 startOffset, uint64 endOffset, uint32 publishedBlock)
    {
        State memory s = _state;
        return (s.version, s.partition, s.startOffset, s.startOffset + s.chunks, s.publishedBlock);
    }

    /// What a client's trainer polls while it waits, in one call: the phase, the latest version
    /// (as `latestVersion`) and whether `client` has an update waiting in the queue.
    function clientView(address client)
        external
        view
        returns (
            Phase phase_,
            uint32 version,
            uint32 partition,
            uint64 startOffset,
            uint64 endOffset,
            uint32 publishedBlock,
            bool pending
        )
    {
        State memory s = _state;
        return (s.phase, s.version, s.partition, s.startOffset, s.startOffset + s.chunks, s.publishedBlock,
                _members[client].pending);
    }

    /// @return submitted updates ever queued, consumed updates ever aggregated
    function queueCounters() external view returns (uint32 submitted, uint32 consumed) {
        State memory s = _state;
        return (s.submitted, s.consumed);
    }

    function queueSize() external view returns (uint32) {
        State memory s = _state;
        return s.submitted - s.consumed;
    }

    /// Whether `client` has an update waiting in the queue, and its queue position.
    function pendingOf(address client) external view returns (bool pending, uint32 seq) {
        Member memory member = _members[client];
        return (member.pending, member.seq);
    }

    function isClient(address account) external view returns (bool) {
        return _members[account].registered;
    }

    function sampleCeilingOf(address client) external view returns (uint32) {
        return _members[client].sampleCeiling;
    }

    function rewardsOf(address client) external view returns (uint256 earned, uint256 paid) {
        Member memory member = _members[client];
        return (member.earned, member.paid);
    }

    // ---- internals -------------------------------------------------------------------------

    /// Consume the queue's head, one outcome per update in queue order; returns the rewards to
    /// credit. With `rejectionsOnly` every verdict must be a reason.
    function _consume(State memory s, Outcome[] calldata outcomes, bool rejectionsOnly)
        private
        returns (uint256 credited)
    {
        for (uint256 i = 0; i < outcomes.length; ++i) {
            Outcome calldata outcome = outcomes[i];
            Member memory member = _members[outcome.client];
            if (!member.pending || member.seq != s.consumed) revert NotQueued(outcome.client, s.consumed);
            s.consumed += 1;
            member.pending = false;
            uint256 verdict = uint256(outcome.verdict);
            if (verdict <= type(uint88).max) {
                if (rejectionsOnly) revert InvalidVerdict(outcome.client);
                member.earned += uint88(verdict);
                credited += verdict;
            } else if (uint8(outcome.verdict[0]) == 0) {
                revert InvalidVerdict(outcome.client);
            }
            _members[outcome.client] = member;
            emit UpdateVerdict(outcome.verdict);
        }
    }

    function _publish(State memory s, bytes32 contentHash, uint256 pointer) private {
        if (contentHash == bytes32(0)) revert InvalidHash();
        uint64 startOffset = uint64(pointer >> 64);
        uint64 endOffset = uint64(pointer);
        if (pointer >> 160 != 0 || endOffset <= startOffset || endOffset - startOffset > type(uint24).max) {
            revert InvalidPointer();
        }
        s.publishedBlock = uint32(block.number);
        s.partition = uint32(pointer >> 128);
        s.startOffset = startOffset;
        s.chunks = uint24(endOffset - startOffset);
        _state = s;
        emit GlobalVersionPublished(contentHash, pointer);
    }

    function _pay(address client) private returns (uint256 amount) {
        Member storage member = _members[client];
        amount = member.earned - member.paid;
        if (amount > 0) {
            member.paid = member.earned;
            token().mint(client, amount);
            emit RewardPaid(client, amount);
        }
    }

    /// The aggregator and the rounds limit with one code copy (the round's two checks).
    function _aggregatorAndRounds() private view returns (address aggregator_, uint32 maxRounds) {
        assembly ("memory-safe") {
            extcodecopy(address(), 0, 0x2d, 0x40)
            aggregator_ := shr(96, mload(0))
            maxRounds := shr(224, mload(40))
        }
    }

    /// `size` bytes (at most 32) at `offset` of the clone's immutable arguments, right-aligned.
    /// They follow the 45-byte EIP-1167 proxy code: aggregator (20 bytes), token (20), rounds (4),
    /// creation block (8), settings hash (32), reward budget (12), as TrainingFactory packs them.
    function _cloneArg(uint256 offset, uint256 size) private view returns (bytes32 value) {
        assembly ("memory-safe") {
            extcodecopy(address(), 0, add(0x2d, offset), 0x20)
            value := shr(sub(256, mul(8, size)), mload(0))
        }
    }

    function _requirePhase(State memory s, Phase expected) private pure {
        if (s.phase != expected) revert WrongPhase(expected, s.phase);
    }
}
