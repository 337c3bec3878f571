// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title The platform's reward token (ERC-20), deployed once per platform.
/// @notice Each training contract is granted MINTER_ROLE by the platform and mints its
/// contributors' rewards when they are paid out, so one token accounts for every training.
/// Amounts are in base units (18 decimals), so measured fractional rewards need no rounding.
contract RewardToken is ERC20, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin the platform account that grants MINTER_ROLE to its training contracts.
    constructor(address admin) ERC20("Kafka-ML Federated Reward", "KMLR") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mint `amount` to `to`; only contracts (or accounts) holding MINTER_ROLE.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
