"""How the chain's cost and the aggregator's pace grow with the number of clients.

The toy workload through the chain with 4, 16 and 32 clients. The aggregator is the real job,
on the real chain and broker; the clients are lightweight stand-ins in this process, each with its own funded
account, that do what a trainer does after its local fit: fetch the newest global weights, move
them a little (their own seeded noise), publish the update to the client's own topic with its
metadata and submit it on chain. So every update is real: fetched, hash-checked, measured on the
validation set, screened and aggregated (FedAvg, a round per client count of updates). Their noise
improves nothing, so the rewards follow the paper's tiers (``tiered``: an update that leaves the loss
about where it was still earns a share), and every client is paid at the end, as in a real
training. Gas comes from the receipts of every transaction sent to the training's contract,
decoded by function.

Figures (``--json``):

* ``gas_per_update_<n>``: submit + record gas per update judged, with ``n`` clients;
  ``gas_per_update_32_over_4`` their ratio (target ≤ 1.05: an update's cost does not grow with the
  number of clients);
* ``screened_per_s_<n>``: updates the aggregator screened and aggregated per second of its own round
  time (the seconds its log gives each version: fetching, checking, measuring, aggregating,
  publishing, recording);
* ``payout_transactions_<n>``: the transactions that paid the clients at the end.

    .venv/bin/python benchmarks/scale_clients.py --json out/scale_clients.json [--quick]
"""

from __future__ import annotations

import argparse
import re
import threading
from collections import Counter
from pathlib import Path

import numpy as np
from _report import write_figures
from _runs import private_stack
from rich.console import Console
from rich.table import Table
from web3 import Web3

from kafkaml.ledger import PlatformLedger, TrainerLedger, TrainingReader, WrongPhase
from kafkaml.local import stack as local
from kafkaml.local.accounts import LocalAccount, new_account
from kafkaml.local.train import Run, RunOptions, deploy_token_once, start_run, wait_for_end
from kafkaml.topics import update_topic
from kafkaml.weights.codec import update_metadata, weights_hash
from kafkaml.weights.transport import fetch_weights, publish_weights
from kafkaml.workloads import make_workload

SCALES = (4, 16, 32)
GAS_MONEY_WEI = 10**17
#: The aggregator's line for each version: "version N: … from K update(s) in S s".
ROUND_LINE = re.compile(r"version \d+: .* from (\d+) update\(s\) in ([0-9.]+) s")


def stand_in_clients(current: local.Stack, directory: Path, count: int) -> list[LocalAccount]:
    """``count`` fresh accounts, each funded by the platform for its submissions' gas."""
    platform_key = current.account("platform").private_key()
    accounts = [new_account(directory / f"stand-in-{index}.key") for index in range(1, count + 1)]
    for account in accounts:
        PlatformLedger.fund(current.chain.address, platform_key, account.address, GAS_MONEY_WEI)
    return accounts


def submit_updates(current: local.Stack, holder: list[Run], accounts: list[LocalAccount], stop: threading.Event,
                   failures: list[BaseException]) -> None:
    """The stand-ins' loop: each client submits one update per global version, from that version."""
    try:
        while not holder and not stop.is_set():
            stop.wait(0.1)
        run = holder[0]
        contract, topic = run.announcement.blockchain.contract_address, run.announcement.training["weights_topic"]
        ledgers = [TrainerLedger.open(current.chain.address, contract, account.private_key()) for account in accounts]
        trained_from = [-1] * len(accounts)
        while not stop.is_set():
            latest = ledgers[0].latest_version()
            if ledgers[0].phase().name != "ACTIVE":
                stop.wait(0.2)
                continue
            weights = None
            for index, (account, ledger) in enumerate(zip(accounts, ledgers, strict=True)):
                if trained_from[index] >= latest.version or ledger.has_pending():
                    continue
                if weights is None:
                    weights = fetch_weights(current.bootstrap("platform"), latest.pointer, latest.content_hash)
                rng = np.random.default_rng([index, latest.version])
                update = [w + rng.normal(0, 1e-3, w.shape).astype(np.float32) for w in weights]
                metadata = update_metadata(run.run_id, account.address.lower(), latest.version)
                pointer, _ = publish_weights(current.bootstrap("platform"), update_topic(topic, account.address),
                                             update, metadata=metadata)
                try:
                    ledger.submit_update(latest.version, weights_hash(update, metadata), pointer, 100)
                except WrongPhase:  # the training finished meanwhile
                    return
                trained_from[index] = latest.version
            stop.wait(0.1)
    except BaseException as exc:  # re-raised by the benchmark: a crashed stand-in must not pass as a result
        if not stop.is_set():
            failures.append(exc)


def gas_by_function(current: local.Stack, contract: str, first_block: int) -> tuple[Counter, Counter]:
    """Gas and transaction count per contract function, from every receipt since ``first_block``."""
    w3 = Web3(Web3.HTTPProvider(current.chain.address))
    decoder = TrainingReader.open(current.chain.address, contract).contract
    gas, count = Counter(), Counter()
    for number in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True).transactions:
            if tx["to"] != Web3.to_checksum_address(contract):
                continue
            name = decoder.decode_function_input(tx["input"])[0].fn_name
            gas[name] += w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
            count[name] += 1
    return gas, count


def measure(current: local.Stack, runs_dir: Path, clients: int, rounds: int) -> dict[str, float]:
    accounts = stand_in_clients(current, runs_dir / f"keys-{clients}", clients)
    options = RunOptions(clients=0, rounds=rounds, mode="blockchain", strategy="fedavg", reward_policy="tiered",
                         strategy_params={"updates": clients}, stop_timeout_s=300,
                         extra_clients={account.address: 100 for account in accounts})
    token = deploy_token_once(current)
    first_block = Web3(Web3.HTTPProvider(current.chain.address)).eth.block_number
    holder: list[Run] = []
    stop, failures = threading.Event(), []
    thread = threading.Thread(target=submit_updates, args=(current, holder, accounts, stop, failures), daemon=True)
    thread.start()
    run = start_run(current, make_workload("toy", 1, 600, seed=7, mode="random-split"), options, runs_dir, token)
    holder.append(run)
    try:
        final = wait_for_end(run, timeout_s=1800)
    finally:
        stop.set()
        run.stop()
        thread.join(timeout=60)
    if failures:
        raise failures[0]
    gas, count = gas_by_function(current, run.contract_address, first_block)
    judged = sum(len(record["contributions"]) for record in run.rounds_done())
    rounds_timed = [(int(k), float(s)) for k, s in ROUND_LINE.findall(run.aggregator.log_path.read_text())]
    return {
        "clients": clients, "versions": final["versions"], "updates": judged,
        "gas_per_update": (gas["submitUpdate"] + gas["recordRound"] + gas["recordRejections"]) / judged,
        "submit_gas": gas["submitUpdate"] / max(count["submitUpdate"], 1),
        "record_gas_per_update": (gas["recordRound"] + gas["recordRejections"]) / judged,
        "screened_per_s": sum(k for k, _ in rounds_timed) / sum(s for _, s in rounds_timed),
        "payout_transactions": count["payRewards"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="write the flat JSON results here")
    parser.add_argument("--rounds", type=int, default=3, help="versions per training (default 3)")
    parser.add_argument("--quick", action="store_true", help="2 and 4 clients, 2 rounds: a smoke check")
    args = parser.parse_args()
    scales, rounds = ((2, 4), 2) if args.quick else (SCALES, args.rounds)
    with private_stack(1) as (current, runs_dir):
        rows = [measure(current, runs_dir, clients, rounds) for clients in scales]
    table = Table(title=f"the chain and the aggregator with more clients (toy workload, FedAvg, {rounds} versions)")
    for column in ("clients", "updates judged", "gas per update", "submit", "record per update",
                   "screened per s", "payout transactions"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["clients"]), str(row["updates"]), f"{row['gas_per_update']:,.0f}",
                      f"{row['submit_gas']:,.0f}", f"{row['record_gas_per_update']:,.0f}",
                      f"{row['screened_per_s']:.1f}", str(row["payout_transactions"]))
    Console().print(table)
    figures: dict[str, float | int] = {"rounds": rounds}
    for row in rows:
        n = row["clients"]
        figures.update({f"gas_per_update_{n}": round(row["gas_per_update"]),
                        f"screened_per_s_{n}": round(row["screened_per_s"], 2),
                        f"payout_transactions_{n}": row["payout_transactions"]})
    low, high = rows[0]["clients"], rows[-1]["clients"]
    figures[f"gas_per_update_{high}_over_{low}"] = round(rows[-1]["gas_per_update"] / rows[0]["gas_per_update"], 4)
    print(f"gas per update, {high} clients over {low}: {figures[f'gas_per_update_{high}_over_{low}']} (target ≤ 1.05)")
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
