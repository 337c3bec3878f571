"""The local stack: Tansu brokers and an Anvil chain as processes on one machine."""
