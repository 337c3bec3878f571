"""``kafkaml train``: a federated training on the local stack, with a progress bar per round."""

from __future__ import annotations

import argparse
import json
import time
from functools import cache
from typing import TYPE_CHECKING

from kafkaml.rewards import POLICIES
from kafkaml.workloads import SPLIT_MODES, WORKLOADS

if TYPE_CHECKING:  # the handlers import what they use: registering the parser imports nothing heavy
    from rich.console import Console

    from kafkaml.local import stack as local
    from kafkaml.local.train import RunOptions


@cache
def console() -> Console:
    from rich.console import Console

    return Console()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="run a federated training on the local stack")
    add_training_arguments(parser)
    add_heterogeneity_arguments(parser)
    parser.set_defaults(handler=run)


def add_heterogeneity_arguments(parser: argparse.ArgumentParser) -> None:
    """Simulated slow or intermittent clients (kafkaml/heterogeneity.py): benchmarks and tests only."""
    group = parser.add_argument_group("simulated heterogeneous clients (benchmarks and tests only)")
    group.add_argument("--slow", action="append", default=[], metavar="CLIENT=FACTOR",
                       help="client CLIENT (from 1) waits (FACTOR - 1) x its training time after each local "
                            "training, as a FACTOR-times slower client; repeatable")
    group.add_argument("--dropout", action="append", default=[], metavar="CLIENT=AFTER:SECONDS",
                       help="client CLIENT goes offline for SECONDS after every AFTER submitted updates; repeatable")


def add_training_arguments(parser: argparse.ArgumentParser, *, workload: str = "toy", samples: int = 2000,
                           rounds: int = 5, clients: int = 2) -> None:
    """The options of a local training, shared by ``kafkaml train`` and ``kafkaml demo``."""
    parser.add_argument("--clients", type=int, default=clients, help=f"federated clients (default {clients})")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"aggregation rounds (default {rounds})")
    parser.add_argument("--mode", choices=("blockchain", "classic"), default="blockchain")
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default=workload)
    parser.add_argument("--samples", type=int, default=samples, help="dataset size shared among the clients")
    parser.add_argument("--split", choices=SPLIT_MODES, default="random-split")
    parser.add_argument("--strategy", default="fedasync",
                        help="aggregation strategy (default fedasync); mix is the paper's Algorithm 1 (weightsAverage: "
                             "each update averaged half and half with the global model)")
    parser.add_argument("--strategy-params", type=json.loads, default={}, help="JSON parameters of the strategy")
    parser.add_argument("--reward-policy", choices=POLICIES, default="improvement",
                        help="how measured improvements become tokens (default improvement); tiered is the paper's "
                             "fixed tiers by loss ratio")
    parser.add_argument("--exclude-after", type=int, default=0, metavar="N",
                        help="exclude a client after N rejected updates: its later ones are rejected unread "
                             "(default 0: never)")
    parser.add_argument("--epochs", type=int, default=1, help="local epochs per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")


def heterogeneity_from(slow: list[str], dropout: list[str], clients: int) -> dict:
    """``--slow`` and ``--dropout`` as RunOptions.heterogeneity; ConfigError naming a bad value."""
    from kafkaml.config import ConfigError
    from kafkaml.heterogeneity import Heterogeneity

    def parsed(item: str, option: str, form: str) -> tuple[int, float, float]:
        client, _, value = item.partition("=")
        first, _, second = value.partition(":")
        try:
            if not client.isdigit() or not 1 <= int(client) <= clients:
                raise ValueError(f"CLIENT must be in 1..{clients}")
            return int(client), float(first), float(second or 0)
        except ValueError as exc:
            raise ConfigError(f"{option} {item!r}: expected {form} ({exc})") from None

    factors = {client: factor for client, factor, _ in (parsed(i, "--slow", "CLIENT=FACTOR") for i in slow)}
    schedules = {client: (after, seconds)
                 for client, after, seconds in (parsed(i, "--dropout", "CLIENT=AFTER:SECONDS") for i in dropout)}
    if any(not after.is_integer() for after, _ in schedules.values()):
        raise ConfigError("--dropout: AFTER must be a whole number of updates")
    schedules = {client: (int(after), seconds) for client, (after, seconds) in schedules.items()}
    try:
        return {client: Heterogeneity(factors.get(client, 1.0), *schedules.get(client, (0, 0.0)))
                for client in sorted({*factors, *schedules})}
    except ValueError as exc:
        raise ConfigError(f"--slow / --dropout: {exc}") from None


def options_from(args: argparse.Namespace) -> RunOptions:
    from kafkaml.config import ConfigError
    from kafkaml.local.train import RunOptions
    from kafkaml.strategies import StrategyError, check_rounds_fill, make_strategy

    heterogeneity = heterogeneity_from(getattr(args, "slow", []), getattr(args, "dropout", []), args.clients)
    try:
        check_rounds_fill(make_strategy(args.strategy, args.strategy_params), args.clients)
    except StrategyError as exc:
        raise ConfigError(f"--strategy {args.strategy}: {exc}") from None
    return RunOptions(clients=args.clients, rounds=args.rounds, mode=args.mode, strategy=args.strategy,
                      strategy_params=args.strategy_params, epochs=args.epochs, batch=args.batch, seed=args.seed,
                      reward_policy=args.reward_policy, exclude_after=args.exclude_after,
                      heterogeneity=heterogeneity)


def run(args: argparse.Namespace) -> int:
    result = train_locally(args)
    print_summary(result)
    return 0


def train_locally(args: argparse.Namespace) -> dict:
    """Stack up, data in, jobs started, rounds shown as they are recorded; returns the summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kafkaml.local import stack as local
    from kafkaml.local.train import deploy_token_once, start_run, wait_for_end
    from kafkaml.workloads import make_workload

    started = time.monotonic()
    options = options_from(args)  # bad options fail before anything starts
    current = local.up(args.clients)
    console().print(f"local stack ready ({args.clients} client brokers, chain at {current.chain.address})")
    workload = make_workload(args.workload, args.clients, args.samples, args.seed, args.split)
    console().print(f"workload {workload.name}: {', '.join(str(len(c)) for c in workload.clients)} samples per "
                  f"client, {len(workload.validation)} for validation, {len(workload.test)} held out")
    token = deploy_token_once(current) if options.mode == "blockchain" else None
    run_ = start_run(current, workload, options, current.run_dir / "trainings", token)
    console().print(f"training {run_.run_id} ({options.mode}, {options.strategy}) started; logs in {run_.directory}")
    with Progress(TextColumn("[bold]rounds"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console()) as progress:
        task = progress.add_task("rounds", total=options.rounds, status="waiting for the first update")

        def on_round(record: dict) -> None:
            accuracy = record.get("val_accuracy")
            status = f"v{record['version']} val_loss {record['val_loss']:.4f}" + (
                f" acc {accuracy:.3f}" if accuracy is not None else "")
            progress.update(task, completed=record["version"], status=status)

        try:
            final = wait_for_end(run_, args.timeout, on_round)
        finally:
            run_.stop()
    return {"run": run_, "final": final, "workload": workload, "seconds": time.monotonic() - started,
            "chain": chain_usage(current, run_.contract_address) if options.mode == "blockchain" else None}


def chain_usage(current: local.Stack, contract_address: str) -> dict:
    """Transactions and gas the training caused: its creation (sent to the platform's factory)
    and every transaction sent to its contract since."""
    from web3 import Web3

    from kafkaml.ledger.reader import TrainingReader

    w3 = Web3(Web3.HTTPProvider(current.chain.address))
    ledger = TrainingReader.open(current.chain.address, contract_address)
    training, factory = ledger.info(), ledger.platform().factory
    transactions, gas = 0, 0
    for number in range(training.created_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True).transactions:
            if tx["to"] == ledger.address or (number == training.created_block and tx["to"] == factory):
                transactions += 1
                gas += w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
    return {"transactions": transactions, "gas": gas}


def print_summary(result: dict) -> None:
    from rich.table import Table

    run_, final = result["run"], result["final"]
    table = Table(title=f"training {run_.run_id}")
    table.add_column("what")
    table.add_column("value")
    table.add_row("coordination", f"{run_.options.mode} ({final.get('identity', '')})")
    table.add_row("global versions", str(final.get("versions")))
    metrics = final.get("metrics", {})
    table.add_row("validation loss / accuracy", f"{metrics.get('val_loss'):.4f} / {metrics.get('val_accuracy'):.3f}")
    table.add_row("final model", str(final.get("model_path")))
    names = {account.address: account.role for account in run_.stack.accounts}
    rewards = {names.get(client, client): int(amount) for client, amount in final.get("rewards", {}).items()}
    for client, amount in sorted(rewards.items()):
        table.add_row(f"tokens of {client}", f"{amount / 10**18:.6f}")
    if result.get("chain"):
        table.add_row("transactions / total gas", f"{result['chain']['transactions']} / {result['chain']['gas']:,}")
        table.add_row("aggregator gas money", f"{run_.aggregator_account.address}: funded {run_.funded_wei:,} wei, "
                      f"returned {run_.returned_wei or 0:,} wei")
    table.add_row("wall time", f"{result['seconds']:.1f} s")
    console().print(table)
    if run_.options.mode == "blockchain":
        from kafkaml.ledger.factory import PlatformLedger

        address, token = run_.announcement.blockchain.contract_address, run_.token_address
        factory = PlatformLedger.factory_of(run_.stack.chain.address, token)
        console().print(f"audit this run: [bold].venv/bin/kafkaml audit {address} --token {token} --factory {factory} "
                      f"--rpc-url {run_.stack.chain.address} --kafka {run_.stack.bootstrap('platform')} --recompute[/bold]")

