// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {FederatedLearning} from "./FederatedLearning.sol";
import {RewardToken} from "./RewardToken.sol";

/// @title A platform's trainings: creates each one as a minimal-proxy clone of one implementation.
/// @notice Deployed once per platform; its constructor creates the platform's RewardToken (whose
/// only admin is this factory) and the FederatedLearning implementation. `createTraining` gives
/// every training its own address for the price of a 129-byte clone instead of a 5 KB contract,
/// initialises it and lets it mint its rewards, all in one transaction. The training announces
/// itself (TrainingConfigured, from its own address); the token's RoleGranted(MINTER_ROLE, ...)
/// events list every training of the platform.
/// @dev The clone carries its fixed parameters as immutable arguments appended to its code
/// (EIP-1167 + OpenZeppelin Clones): aggregator, token, rounds, creation block, settings hash,
/// reward budget, packed. Reading them costs an EXTCODECOPY of the running contract's own (warm) code, where a
/// storage slot would cost a cold SLOAD in every transaction.
contract TrainingFactory {
    /// The platform account: the only one that creates trainings (and aggregates none).
    address public immutable admin;
    RewardToken public immutable token;
    FederatedLearning public immutable implementation;

    bytes32 private constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// One per training; `aggregator` indexed, so the platform finds the training it created for
    /// an aggregator account even when it crashed before storing the address.
    event TrainingCreated(address indexed training, address indexed aggregator);

    error Unauthorized(address caller);
    error InvalidAggregator(address aggregator);

    constructor() {
        admin = msg.sender;
        token = new RewardToken();
        implementation = new FederatedLearning();
    }

    /// @notice Create a training aggregated by `aggregator`, an account of its own (never the
    /// admin: the admin key creates trainings and can act on none), able to credit at most
    /// `budget` token base units in all; returns its address.
    function createTraining(
        address aggregator,
        bytes32 settingsHash,
        string calldata weightsTopic,
        string calldata strategy,
        uint32 rounds,
        uint96 budget
    ) external returns (address training) {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        if (aggregator == address(0) || aggregator == admin) revert InvalidAggregator(aggregator);
        bytes memory args = abi.encodePacked(aggregator, token, rounds, uint64(block.number), settingsHash, budget);
        training = Clones.cloneWithImmutableArgs(address(implementation), args);
        FederatedLearning(training).initialize(weightsTopic, strategy);
        token.grantRole(MINTER_ROLE, training);
        emit TrainingCreated(training, aggregator);
    }
}
