// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title The platform's reward token (ERC-20), one per platform.
/// @notice Created by the platform's TrainingFactory, which is its only admin: the factory grants
/// MINTER_ROLE to each training it creates, in the same transaction, and to nothing else. A
/// training mints only what its aggregator credited, and credits cannot exceed the budget fixed
/// when the training was created.
/// Trust model, stated plainly: the supply is only as sound as the platform. The platform admin
/// chooses every training's aggregator account and budget, so it can mint up to the sum of the
/// budgets it grants (for example to an aggregator and a client it controls); each aggregator can
/// credit any registered client up to its training's budget. What the chain guarantees is that
/// every minted amount is traceable to one training, one aggregator and recorded rounds, that no
/// training exceeds its budget, and that nobody else (clients, other trainings' aggregators,
/// clones not created by the factory) can mint. Amounts are in base units (18 decimals).
contract RewardToken is ERC20, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// The TrainingFactory that created this token: how a client finds the factory from the
    /// token address it was given.
    address public immutable factory;

    constructor() ERC20("Kafka-ML Federated Reward", "KMLR") {
        factory = msg.sender;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    /// @notice Mint `amount` to `to`; only contracts holding MINTER_ROLE (training contracts).
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
