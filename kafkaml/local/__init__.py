"""The local stack: Tansu brokers and a chain (Anvil or Hardhat's node) as processes on one machine."""
