// The local stack's Hardhat node (kafkaml/local/stack.py starts it with KAFKAML_HARDHAT_NODE set):
// the chain id, the dev mnemonic's funded accounts and the EVM version the contracts are compiled
// for come from the stack, so that both node implementations serve the same chain.
const settings = JSON.parse(process.env.KAFKAML_HARDHAT_NODE ?? "null");
if (settings === null) {
  throw new Error("KAFKAML_HARDHAT_NODE is not set: start this node with 'kafkaml local up'");
}

export default {
  paths: { artifacts: settings.artifacts, cache: settings.cache },
  networks: {
    node: {
      type: "edr-simulated",
      chainType: "l1",
      chainId: settings.chainId,
      hardfork: settings.hardfork,
      accounts: {
        mnemonic: settings.mnemonic,
        count: settings.accounts,
        accountsBalance: settings.balanceWei,
      },
    },
  },
};
