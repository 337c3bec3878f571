// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {RewardToken} from "./RewardToken.sol";

/// @title One asynchronous federated training: its update queue, global versions and rewards.
/// @notice The platform account that deploys the contract is the aggregator. It registers the
/// clients, publishes global model versions and records which queued updates each version
/// consumed and what they earned. Registered clients submit updates (a content hash and a Kafka
/// pointer to the weights). Rewards are paid in the platform's RewardToken after the training.
/// @dev Gas is the design constraint (see docs/ledger.md). Everything an auditor needs travels in
/// events; storage holds one packed slot of state (phase, counters, the latest version's Kafka
/// pointer and time), the latest global hash, one slot per update (keyed by its content hash,
/// which also rejects a second submission) and one per client. Loops run only over arrays the
/// caller passes, so the caller bounds them.
contract FederatedLearning {
    enum Phase {
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
        uint32 timestamp; // block time the latest version was published
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
        uint120 earned;
        uint120 paid;
    }

    /// The aggregator's verdict on one queued update, in queue order. `reason` is zero for an
    /// accepted update and a short ASCII reason (e.g. "stale", "hash-mismatch") for a rejected one.
    struct Outcome {
        bytes32 contentHash;
        uint120 reward;
        bytes32 reason;
    }

    address public immutable aggregator;
    RewardToken public immutable token;
    bytes32 public immutable settingsHash;
    uint32 public immutable rounds;
    uint256 public immutable createdAt; // block number: where readers start scanning events

    State private _state;
    bytes32 private _latestHash;
    mapping(bytes32 contentHash => Update) private _updates;
    mapping(address client => Member) private _members;

    event TrainingConfigured(
        address indexed aggregator,
        address indexed token,
        bytes32 settingsHash,
        string weightsTopic,
        string strategy,
        uint32 rounds
    );
    event ClientRegistered(address indexed client);
    event PhaseChanged(Phase phase);
    event UpdateSubmitted(
        address indexed client,
        bytes32 contentHash,
        uint32 baseVersion,
        uint32 samples,
        string topic,
        uint32 partition,
        uint64 startOffset,
        uint64 endOffset
    );
    event GlobalVersionPublished(
        uint32 indexed version, bytes32 contentHash, uint32 partition, uint64 startOffset, uint64 endOffset
    );
    event UpdateAggregated(
        address indexed client,
        bytes32 contentHash,
        uint32 baseVersion,
        uint32 version,
        uint256 reward,
        bytes32 reason
    );
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
    error RewardForRejected(bytes32 contentHash);
    error RoundLimitReached(uint32 rounds);
    error NothingToClaim(address client);

    modifier onlyAggregator() {
        if (msg.sender != aggregator) revert Unauthorized(msg.sender);
        _;
    }

    constructor(
        RewardToken rewardToken,
        bytes32 trainingSettingsHash,
        string memory trainingWeightsTopic,
        string memory strategy,
        uint32 maxRounds
    ) {
        if (trainingSettingsHash == bytes32(0)) revert InvalidHash();
        aggregator = msg.sender;
        token = rewardToken;
        settingsHash = trainingSettingsHash;
        rounds = maxRounds;
        createdAt = block.number;
        emit TrainingConfigured(
            msg.sender, address(rewardToken), trainingSettingsHash, trainingWeightsTopic, strategy, maxRounds
        );
    }

    // ---- aggregator ------------------------------------------------------------------------

    /// @notice Register clients allowed to submit updates (before or during the training).
    function registerClients(address[] calldata clients) external onlyAggregator {
        if (_state.phase == Phase.Finished) revert WrongPhase(Phase.Active, Phase.Finished);
        for (uint256 i = 0; i < clients.length; ++i) {
            address client = clients[i];
            if (client == address(0) || client == aggregator) revert InvalidClient(client);
            Member storage member = _members[client];
            if (member.registered) revert AlreadyRegistered(client);
            member.registered = true;
            emit ClientRegistered(client);
        }
    }

    /// @notice Publish the genesis model as version 0 and open the queue.
    function start(bytes32 genesisHash, uint32 partition, uint64 startOffset, uint64 endOffset)
        external
        onlyAggregator
    {
        State memory s = _state;
        _requirePhase(s, Phase.Configured);
        s.phase = Phase.Active;
        _publish(s, genesisHash, partition, startOffset, endOffset);
        emit PhaseChanged(Phase.Active);
    }

    /// @notice Publish the next global version, built from the oldest `outcomes.length` queued
    /// updates (in queue order), and credit their rewards. One transaction per round.
    function recordRound(
        bytes32 contentHash,
        uint32 partition,
        uint64 startOffset,
        uint64 endOffset,
        Outcome[] calldata outcomes
    ) external onlyAggregator returns (uint32 version) {
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        if (outcomes.length == 0) revert EmptyRound();
        if (s.version >= rounds) revert RoundLimitReached(rounds);
        version = s.version + 1;
        for (uint256 i = 0; i < outcomes.length; ++i) {
            Outcome calldata outcome = outcomes[i];
            Update memory update = _updates[outcome.contentHash];
            if (update.client == address(0)) revert UnknownUpdate(outcome.contentHash);
            if (update.seq != s.consumed) revert StaleRecord(outcome.contentHash, s.consumed, update.seq);
            s.consumed += 1;
            if (outcome.reward > 0) {
                if (outcome.reason != bytes32(0)) revert RewardForRejected(outcome.contentHash);
                _members[update.client].earned += outcome.reward;
            }
            emit UpdateAggregated(
                update.client,
                outcome.contentHash,
                update.baseVersion,
                version,
                outcome.reward,
                outcome.reason
            );
        }
        s.version = version;
        _publish(s, contentHash, partition, startOffset, endOffset);
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

    /// @notice Queue an update trained from global version `baseVersion`, whose weights (with
    /// SHA-256 `contentHash`) are records [startOffset, endOffset) of `topic`/`partition`.
    function submitUpdate(
        uint32 baseVersion,
        bytes32 contentHash,
        string calldata topic,
        uint32 partition,
        uint64 startOffset,
        uint64 endOffset,
        uint32 samples
    ) external {
        if (!_members[msg.sender].registered) revert NotRegisteredClient(msg.sender);
        State memory s = _state;
        _requirePhase(s, Phase.Active);
        if (baseVersion > s.version) revert UnknownBaseVersion(baseVersion, s.version);
        if (contentHash == bytes32(0)) revert InvalidHash();
        if (samples == 0) revert InvalidSamples();
        if (bytes(topic).length == 0 || endOffset <= startOffset) revert InvalidPointer();
        Update storage update = _updates[contentHash];
        if (update.client != address(0)) revert DuplicateUpdate(contentHash);
        uint32 seq = s.submitted;
        _state.submitted = seq + 1;
        _updates[contentHash] = Update(msg.sender, seq, baseVersion, samples);
        emit UpdateSubmitted(msg.sender, contentHash, baseVersion, samples, topic, partition, startOffset, endOffset);
    }

    /// @notice Mint the caller's unpaid rewards to the caller after the training.
    function claim() external {
        if (!_members[msg.sender].registered) revert NotRegisteredClient(msg.sender);
        _requirePhase(_state, Phase.Finished);
        if (_pay(msg.sender) == 0) revert NothingToClaim(msg.sender);
    }

    // ---- reads -----------------------------------------------------------------------------

    function phase() external view returns (Phase) {
        return _state.phase;
    }

    function isActive() external view returns (bool) {
        return _state.phase == Phase.Active;
    }

    function latestVersion()
        external
        view
        returns (uint32 version, bytes32 contentHash, uint32 partition, uint64 startOffset, uint64 endOffset, uint32 timestamp)
    {
        State memory s = _state;
        return (s.version, _latestHash, s.partition, s.startOffset, s.startOffset + s.chunks, s.timestamp);
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

    function _publish(State memory s, bytes32 contentHash, uint32 partition, uint64 startOffset, uint64 endOffset)
        private
    {
        if (contentHash == bytes32(0)) revert InvalidHash();
        if (endOffset <= startOffset || endOffset - startOffset > type(uint24).max) revert InvalidPointer();
        s.timestamp = uint32(block.timestamp);
        s.partition = partition;
        s.startOffset = startOffset;
        s.chunks = uint24(endOffset - startOffset);
        _state = s;
        _latestHash = contentHash;
        emit GlobalVersionPublished(s.version, contentHash, partition, startOffset, endOffset);
    }

    function _pay(address client) private returns (uint256 amount) {
        Member storage member = _members[client];
        amount = member.earned - member.paid;
        if (amount > 0) {
            member.paid = member.earned;
            token.mint(client, amount);
            emit RewardPaid(client, amount);
        }
    }

    function _requirePhase(State memory s, Phase expected) private pure {
        if (s.phase != expected) revert WrongPhase(expected, s.phase);
    }
}
