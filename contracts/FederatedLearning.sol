// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {RewardToken} from "./RewardToken.sol";

/// @title One asynchronous federated training: its update queue, global versions and rewards.
/// @notice Each training is a minimal-proxy clone of one implementation per platform, created
/// and initialised by the platform's TrainingFactory (see TrainingFactory.sol); the platform
/// account that asked the factory for it is the aggregator. It registers the
/// clients, publishes global model versions and records which queued updates each version
/// consumed and what they earned. Registered clients submit updates (a content hash and a Kafka
/// pointer to the weights). Rewards are paid in the platform's RewardToken after the training.
/// @dev Gas is the design constraint (see docs/ledger.md). Everything an auditor needs travels in
/// events; storage holds one packed slot of state (phase, counters, the latest version's Kafka
/// pointer and the block that published it), one slot per update (keyed by its content hash,
/// which also rejects a second submission) and one per client. Global content hashes live only
/// in GlobalVersionPublished events: nothing on chain reads them back, and a reader finds the
/// latest one in the block `latestVersion()` names (see docs/ledger.md, "Why the latest hash is
/// not in storage"). Loops run only over arrays the
/// caller passes, so the caller bounds them. The fixed parameters (aggregator, token, rounds,
/// creation block, settings hash) are the clone's immutable arguments, read from its own code.
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

    /// One queued update, one slot, keyed by its content hash. Never deleted, so a content hash
    /// can be submitted only once. It is consumed once `seq < state.consumed` (FIFO).
    struct Update {
        address client;
        uint32 seq;
        uint32 baseVersion;
        uint32 samples;
    }

    struct Member {
        bool registered;
        bool hasTopic; // it announced an update topic, so its updates may omit it
        uint120 earned;
        uint120 paid;
    }

    /// The aggregator's verdict on one queued update, in queue order. `verdict` is one word, as
    /// calldata is priced by the byte: below 2^120 it is the reward of an accepted update (0 is an
    /// accepted update that earned nothing); otherwise it is the short left-aligned ASCII reason
    /// of a rejected one (e.g. "stale", "hash-mismatch"), whose first byte is not zero.
    struct Outcome {
        bytes32 contentHash;
        bytes32 verdict;
    }

    /// The factory that deployed this implementation: the only caller of `initialize`.
    address private immutable _factory;

    State private _state;
    mapping(bytes32 contentHash => Update) private _updates;
    mapping(address client => Member) private _members;

    /// Aggregator and token are the clone's immutable arguments (`aggregator()`, `token()`).
    event TrainingConfigured(
        bytes32 settingsHash,
        string weightsTopic,
        string strategy,
        uint32 rounds
    );
    event ClientRegistered(address indexed client);
    event PhaseChanged(Phase phase);
    /// Event data costs 8 gas a byte and every ABI field takes 32 bytes, so the small numbers
    /// travel packed into one word each (layouts below; `kafkaml.ledger.events` unpacks them).
    ///
    /// `update` = baseVersion << 192 | samples << 160 | partition << 128 | startOffset << 64 |
    /// endOffset, in the topic the client announced last (UpdateTopic).
    event UpdateSubmitted(address indexed client, bytes32 contentHash, uint256 update);
    /// The Kafka topic of the client's updates from this one on; emitted (before its
    /// UpdateSubmitted) only when an update names a topic, so a topic name is paid for once.
    event UpdateTopic(address indexed client, string topic);
    /// `pointer` = partition << 128 | startOffset << 64 | endOffset, in the training's weights
    /// topic. Versions are numbered in publication order: the n-th of these events is version n - 1.
    event GlobalVersionPublished(bytes32 contentHash, uint256 pointer);
    /// A round's verdicts, one per consumed update in queue order (the queue is FIFO, so the k-th
    /// verdict ever is about the k-th update ever submitted), precede the GlobalVersionPublished
    /// event of the version they went into. `verdict` is the round's Outcome verdict: a reward,
    /// or a rejection's reason. (One event per verdict is cheaper for the usual 1-update round
    /// than an array in GlobalVersionPublished, whose ABI encoding costs more than the event.)
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
    error DuplicateUpdate(bytes32 contentHash);
    error EmptyRound();
    error UnknownUpdate(bytes32 contentHash);
    error StaleRecord(bytes32 contentHash, uint32 expectedSeq, uint32 seq);
    error InvalidVerdict(bytes32 contentHash);
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

    /// @notice Register clients allowed to submit updates (before or during the training).
    function registerClients(address[] calldata clients) external onlyAggregator {
        if (_state.phase == Phase.Finished) revert WrongPhase(Phase.Active, Phase.Finished);
        for (uint256 i = 0; i < clients.length; ++i) {
            address client = clients[i];
            if (client == address(0) || client == msg.sender) revert InvalidClient(client);
            Member storage member = _members[client];
            if (member.registered) revert AlreadyRegistered(client);
            member.registered = true;
            emit ClientRegistered(client);
        }
    }

    /// @notice Publish the genesis model as version 0 and open the queue. `pointer` is packed as
    /// in GlobalVersionPublished.
    function start(bytes32 genesisHash, uint256 pointer) external onlyAggregator {
        State memory s = _state;
        _requirePhase(s, Phase.Configured);
        s.phase = Phase.Active;
        _publish(s, genesisHash, pointer);
        emit PhaseChanged(Phase.Active);
    }

    /// @notice Publish the next global version, built from the oldest `outcomes.length` queued
    /// updates (in queue order), and credit their rewards. One transaction per round. `pointer`
    /// is packed as in GlobalVersionPublished.
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
        for (uint256 i = 0; i < outcomes.length; ++i) {
            Outcome calldata outcome = outcomes[i];
            Update memory update = _updates[outcome.contentHash];
            if (update.client == address(0)) revert UnknownUpdate(outcome.contentHash);
            if (update.seq != s.consumed) revert StaleRecord(outcome.contentHash, s.consumed, update.seq);
            s.consumed += 1;
            uint256 verdict = uint256(outcome.verdict);
            if (verdict <= type(uint120).max) {
                if (verdict > 0) _members[update.client].earned += uint120(verdict);
            } else if (uint8(outcome.verdict[0]) == 0) {
                revert InvalidVerdict(outcome.contentHash);
            }
            emit UpdateVerdict(outcome.verdict);
        }
        s.version = version;
        _publish(s, contentHash, pointer);
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
    /// to its weights (with SHA-256 `contentHash`) as in UpdateSubmitted, in the topic the caller
    /// announced last. Clients keep publishing to one topic, and a topic name costs gas in
    /// calldata and in an event, so it is named only when it changes (submitUpdateTo).
    function submitUpdate(bytes32 contentHash, uint256 update) external {
        Member storage member = _members[msg.sender];
        if (!member.registered) revert NotRegisteredClient(msg.sender);
        if (!member.hasTopic) revert InvalidPointer();
        _submit(contentHash, update);
    }

    /// @notice Like submitUpdate, with the update's weights in `topic`, which becomes the caller's
    /// topic for the updates that follow.
    function submitUpdateTo(bytes32 contentHash, uint256 update, string calldata topic) external {
        Member storage member = _members[msg.sender];
        if (!member.registered) revert NotRegisteredClient(msg.sender);
        if (bytes(topic).length == 0) revert InvalidPointer();
        if (!member.hasTopic) member.hasTopic = true;
        emit UpdateTopic(msg.sender, topic);
        _submit(contentHash, update);
    }

    /// @notice Mint the caller's unpaid rewards to the caller after the training.
    function claim() external {
        if (!_members[msg.sender].registered) revert NotRegisteredClient(msg.sender);
        _requirePhase(_state, Phase.Finished);
        if (_pay(msg.sender) == 0) revert NothingToClaim(msg.sender);
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The platform account that created the training and alone aggregates it.
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

    /// @return submitted updates ever queued, consumed updates ever aggregated
    function queueCounters() external view returns (uint32 submitted, uint32 consumed) {
        State memory s = _state;
        return (s.submitted, s.consumed);
    }

    function queueSize() external view returns (uint32) {
        State memory s = _state;
        return s.submitted - s.consumed;
    }

    function updateOf(bytes32 contentHash)
        external
        view
        returns (address client, uint32 seq, uint32 baseVersion, uint32 samples, bool consumed)
    {
        Update memory update = _updates[contentHash];
        bool known = update.client != address(0);
        return (update.client, update.seq, update.baseVersion, update.samples, known && update.seq < _state.consumed);
    }

    function isClient(address account) external view returns (bool) {
        return _members[account].registered;
    }

    function rewardsOf(address client) external view returns (uint256 earned, uint256 paid) {
        Member memory member = _members[client];
        return (member.earned, member.paid);
    }

    // ---- internals -------------------------------------------------------------------------

    function _submit(bytes32 contentHash, uint256 update) private {
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        uint32 baseVersion = uint32(update >> 192);
        if (baseVersion > s.version) revert UnknownBaseVersion(baseVersion, s.version);
        if (contentHash == bytes32(0)) revert InvalidHash();
        if (uint32(update >> 160) == 0) revert InvalidSamples();
        if (update >> 224 != 0 || uint64(update) <= uint64(update >> 64)) revert InvalidPointer();
        if (_updates[contentHash].client != address(0)) revert DuplicateUpdate(contentHash);
        uint32 seq = s.submitted;
        _state.submitted = seq + 1;
        _updates[contentHash] = Update(msg.sender, seq, baseVersion, uint32(update >> 160));
        emit UpdateSubmitted(msg.sender, contentHash, update);
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
    /// creation block (8), settings hash (32), as TrainingFactory packs them.
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
