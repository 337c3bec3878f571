"""Gas of the ledger on a real Ethereum node, beside quoted figures of the earlier Kafka-ML contract.

Targets (issue 3): at most 100,000 gas per round aggregating 1 update, at most 2 transactions
per round, a whole 32-round training with 4 clients (creation, registration, start, 32 rounds of
one update each from the clients in turn, finish and payout) at most 4 M gas.

Gas is summed from the receipts of every transaction mined while a step ran (both local nodes
mine one block per transaction), not from what the client reports, so nothing the benchmark does
is left out. ``--node`` picks the node: Anvil (the default) or Hardhat's; gas is the EVM's, so the
two must agree, and docs/ledger.md reports both. The platform (its TrainingFactory, which creates the RewardToken and the
FederatedLearning implementation) is deployed once per platform and reported on its own; a
training is a clone the factory creates, and its creation counts towards the whole training.

The earlier contract's figures are QUOTED, not measured here: they come from the shared
ARCHITECTURE.md "Reference figures" (the published Kafka-ML ``FederatedLearning.sol``, solc
0.8.37, optimizer off, an 11 KB architecture JSON). The table marks them as quoted and the JSON
keeps them under ``quoted_earlier_*`` keys beside their ``quoted_earlier_source``, so no reader
takes them for a measurement of this run.

    .venv/bin/python benchmarks/ledger_gas.py --json out/ledger_gas.json
    .venv/bin/python benchmarks/ledger_gas.py --node hardhat --json out/ledger_gas_hardhat.json
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import write_figures
from _signals import sigterm_exits
from rich.console import Console
from rich.table import Table
from web3 import Web3

from kafkaml import config
from kafkaml.ledger import AggregatorLedger, PlatformLedger, TrainerLedger, UpdateOutcome, WeightsPointer
from kafkaml.local import stack as local
from kafkaml.local.accounts import LocalAccount, new_account
from kafkaml.topics import update_topic

ROUNDS = 32
CLIENTS = 4
REWARD = 10**18
#: Where the quoted figures come from (printed under the table and written to the JSON).
QUOTED_SOURCE = ("quoted, not measured here: ARCHITECTURE.md 'Reference figures', measured on the published "
                 "Kafka-ML FederatedLearning.sol compiled with solc 0.8.37, optimizer off (11 KB architecture JSON)")
#: The earlier Kafka-ML contract's figures as quoted: deployment, saveTrainingSettings, one
#: 1-update round (5 transactions), 32 rounds; the whole training is their sum.
REFERENCE = {
    "deploy": 2_326_945,
    "settings": 8_039_918,
    "round": 712_664,
    "tx_per_round": 5,
    "rounds_32": 22_800_000,
}
REFERENCE["training_32"] = REFERENCE["deploy"] + REFERENCE["settings"] + REFERENCE["rounds_32"]


class GasMeter:
    """Sums gasUsed and counts the transactions mined while a measured step runs."""

    def __init__(self, rpc_url: str) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url))

    def measure(self, step: Callable[[], Any]) -> tuple[int, int, Any]:
        first = self.w3.eth.block_number + 1
        result = step()
        gas = transactions = 0
        for number in range(first, self.w3.eth.block_number + 1):
            for tx_hash in self.w3.eth.get_block(number)["transactions"]:
                gas += self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"]
                transactions += 1
        return gas, transactions, result


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def run(stack: local.Stack) -> dict[str, Any]:
    rpc_url = stack.chain.address
    meter = GasMeter(rpc_url)
    platform_key = stack.account("platform").private_key()
    clients = [stack.account(f"client-{n}") for n in range(1, CLIENTS + 1)]
    topic = "bench-weights"

    platform_gas, _, token = meter.measure(lambda: PlatformLedger.deploy_token(rpc_url, platform_key))

    keys = stack.run_dir / "keys" / "gas-benchmark"

    def fund_aggregator(rounds: int) -> LocalAccount:
        account = new_account(keys / f"aggregator-{rounds}.key", seed=f"gas-benchmark-aggregator-{rounds}")
        PlatformLedger.fund(rpc_url, platform_key, account.address, 10**18)
        return account

    def create(account: LocalAccount, rounds: int) -> AggregatorLedger:
        address = PlatformLedger.create_training(
            rpc_url,
            platform_key,
            token_address=token,
            aggregator=account.address,
            settings_hash=digest("settings", rounds),
            weights_topic=topic,
            strategy="fedasync",
            rounds=rounds,
            budget=ROUNDS * REWARD,
        )
        return AggregatorLedger.open(rpc_url, address, account.private_key())

    fund_gas, _, aggregator = meter.measure(lambda: fund_aggregator(ROUNDS))
    create_gas, _, ledger = meter.measure(lambda: create(aggregator, ROUNDS))
    views = [TrainerLedger.open(rpc_url, ledger.address, c.private_key()) for c in clients]
    register_gas, _, _ = meter.measure(lambda: ledger.register_clients({c.address: 640 for c in clients}))
    start_gas, _, _ = meter.measure(
        lambda: ledger.start(digest("genesis"), WeightsPointer(topic, 0, 0, 3), digest("announcement"))
    )

    round_gas, round_txs, record_gas = [], [], []
    for index in range(ROUNDS):
        client = views[index % CLIENTS]
        update = digest("update", index)

        def submit(index: int = index, client: TrainerLedger = client, update: bytes = update) -> None:
            base = client.latest_version().version
            client.submit_update(
                base, update, WeightsPointer(update_topic(topic, client.account), 0, 3 * index, 3 * index + 3), 640
            )

        def record(index: int = index, update: bytes = update) -> int:
            pointer = WeightsPointer(topic, 0, 3 * index + 3, 3 * index + 6)
            return ledger.record_round(
                digest("global", index), pointer, [UpdateOutcome(update, True, REWARD)]
            )

        submitted, submit_txs, _ = meter.measure(submit)
        recorded, record_txs, _ = meter.measure(record)
        round_gas.append(submitted + recorded)
        round_txs.append(submit_txs + record_txs)
        record_gas.append(recorded)
    finish_gas, _, _ = meter.measure(ledger.finish)
    payout_gas, _, _ = meter.measure(ledger.pay_rewards)
    paid = sum(ledger.token_balance(c.address) for c in clients)
    assert paid == ROUNDS * REWARD, f"paid {paid}, credited {ROUNDS * REWARD}"

    four = create(fund_aggregator(8), 8)
    four_views = [TrainerLedger.open(rpc_url, four.address, c.private_key()) for c in clients]
    four.register_clients({c.address: 640 for c in clients})
    four.start(digest("genesis-4"), WeightsPointer(topic, 0, 0, 3), digest("announcement-4"))

    outcomes = []

    def four_submits() -> None:
        for n, view in enumerate(four_views):
            update = digest("four", n)
            pointer = WeightsPointer(update_topic(topic, view.account), 1, 3 * n, 3 * n + 3)
            view.submit_update(0, update, pointer, 640)
            outcomes.append(UpdateOutcome(update, True, REWARD))

    four_submit_gas, four_submit_txs, _ = meter.measure(four_submits)
    four_record_gas, four_record_txs, _ = meter.measure(
        lambda: four.record_round(digest("global-4"), WeightsPointer(topic, 0, 3, 6), outcomes))
    four_gas, four_txs = four_submit_gas + four_record_gas, four_submit_txs + four_record_txs

    training = fund_gas + create_gas + register_gas + start_gas + sum(round_gas) + finish_gas + payout_gas
    return {
        "gas_round_1_update": int(statistics.median(round_gas)),
        "gas_round_1_update_max": max(round_gas),
        "gas_round_1_update_first": round_gas[0],
        "gas_round_1_update_later_max": max(round_gas[1:]),
        "gas_round_4_updates": four_gas,
        "tx_per_round": max(round_txs),
        "tx_round_4_updates": four_txs,
        "gas_training_32_rounds_4_clients": training,
        "gas_create_training": create_gas,
        "gas_fund_aggregator": fund_gas,
        "gas_deploy_platform": platform_gas,
        "gas_register_4_clients": register_gas,
        "gas_start": start_gas,
        "gas_finish": finish_gas,
        "gas_payout_4_clients": payout_gas,
        "gas_32_rounds": sum(round_gas),
        "gas_record_round_1_update": int(statistics.median(record_gas)),
        "gas_record_round_1_update_max": max(record_gas),
        "gas_record_round_4_updates": four_record_gas,
        **quoted_figures(),
    }


def quoted_figures() -> dict[str, Any]:
    """The earlier contract's quoted figures, under keys that say they are quoted, with their source."""
    return {
        "quoted_earlier_source": QUOTED_SOURCE,
        "quoted_earlier_gas_deploy": REFERENCE["deploy"],
        "quoted_earlier_gas_save_training_settings": REFERENCE["settings"],
        "quoted_earlier_gas_round_1_update": REFERENCE["round"],
        "quoted_earlier_tx_per_round": REFERENCE["tx_per_round"],
        "quoted_earlier_gas_32_rounds": REFERENCE["rounds_32"],
        "quoted_earlier_gas_training_32_rounds": REFERENCE["training_32"],
    }


def show(figures: dict[str, Any], node: str) -> None:
    table = Table(title=f"ledger gas: ours (measured on {node}) vs. the earlier Kafka-ML contract (quoted)",
                  caption=f"earlier contract: {QUOTED_SOURCE}")
    for column, justify in (
        ("measure", "left"),
        ("ours (measured)", "right"),
        ("earlier contract (quoted)", "right"),
        ("target", "right"),
    ):
        table.add_column(column, justify=justify)
    rows = [
        (
            "create a training (clone + initialise + minter role)",
            figures["gas_create_training"],
            f"{REFERENCE['deploy'] + REFERENCE['settings']:,} (deploy + settings)",
            "",
        ),
        ("fund the training's aggregator account", figures["gas_fund_aggregator"], "-", ""),
        ("platform: factory, token, implementation (once)", figures["gas_deploy_platform"], "-", ""),
        ("register 4 clients", figures["gas_register_4_clients"], "-", ""),
        ("start (genesis version)", figures["gas_start"], "-", ""),
        ("round, 1 update (median)", figures["gas_round_1_update"], f"{REFERENCE['round']:,}", "≤ 100,000"),
        ("round, 4 updates", figures["gas_round_4_updates"], "-", ""),
        ("the aggregator's recordRound alone, 1 / 4 updates",
         f"{figures['gas_record_round_1_update']:,} / {figures['gas_record_round_4_updates']:,}", "-", ""),
        ("transactions per round", figures["tx_per_round"], str(REFERENCE["tx_per_round"]), "≤ 2"),
        ("32 rounds", figures["gas_32_rounds"], f"{REFERENCE['rounds_32']:,}", ""),
        ("finish + payout to 4 clients", figures["gas_finish"] + figures["gas_payout_4_clients"], "-", ""),
        (
            "whole training, 32 rounds, 4 clients",
            figures["gas_training_32_rounds_4_clients"],
            f"{REFERENCE['training_32']:,}",
            "≤ 4,000,000",
        ),
    ]
    for name, ours, earlier, target in rows:
        table.add_row(name, ours if isinstance(ours, str) else f"{ours:,}", earlier, target)
    Console().print(table)


def measure(node: str = "anvil") -> dict[str, Any]:
    """:func:`run` on a chain of its own (a throw-away local stack running ``node``), so that no
    other transaction lands in the blocks it sums (tests/integration/test_targets.py asserts the
    targets on it)."""
    with tempfile.TemporaryDirectory(prefix="kafkaml-gas-") as run_dir:
        stack = local.up(CLIENTS, Path(run_dir), chain_node=node)
        try:
            return run(stack)
        finally:
            local.down(Path(run_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (one flat object)")
    parser.add_argument("--node", choices=config.CHAIN_NODES, default="anvil",
                        help="the Ethereum node the throw-away chain runs (default: anvil)")
    args = parser.parse_args()
    figures = measure(args.node)
    show(figures, args.node)
    write_figures(args.json, figures)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
