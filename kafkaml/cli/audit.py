"""``kafkaml audit <contract> --token T --factory F``: a training's whole history rebuilt from its
on-chain events, once the training is shown to be the expected platform's.

An auditor names the platform it trusts by its reward token and training factory (the addresses
the platform publishes: ``GET /api/chain/``); the audit prints them and refuses a training that
factory did not create for that token, however faithful a copy of the platform's contracts it
runs on. Everything shown comes from the chain alone (no backend, no Kafka): each global version with
the updates it consumed (client, base version, staleness, samples, verdict, reward), the updates
still queued, and what every client earned and was paid. ``--json`` writes the same as JSON.
When ``ETH_BLOCKSCOUT_URL`` is set the training's and the token's sources are submitted to that
Blockscout for verification; without it the audit simply skips that step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kafkaml.cli import UserError
from kafkaml.config import Setting

if TYPE_CHECKING:  # web3, Kafka and rich are imported by the handler: `kafkaml audit --help` stays light
    from rich.console import Console

    from kafkaml.ledger import Audit, TrainingReader
    from kafkaml.recompute import RecomputeReport

# Declared (and documented for `kafkaml config`) with the job settings in training_worker.settings;
# read here through the same definitions' names so that the CLI needs no worker import.
RPC_URL = Setting("ETH_RPC_URL", "JSON-RPC URL of the Ethereum node.", default="")
BLOCKSCOUT_URL = Setting(
    "ETH_BLOCKSCOUT_URL", "Blockscout base URL; when set, audit submits sources.", default=""
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="rebuild a training's history from its contract's events")
    parser.add_argument("address", help="the training's FederatedLearning contract address")
    parser.add_argument("--token", required=True,
                        help="the expected platform's RewardToken address (GET /api/chain/ of the platform)")
    parser.add_argument("--factory", required=True,
                        help="the expected platform's TrainingFactory address (GET /api/chain/ of the platform)")
    parser.add_argument("--json", type=Path, default=None, help="also write the history as JSON here")
    parser.add_argument(
        "--rpc-url",
        default=None,
        help="Ethereum node (default: $ETH_RPC_URL, else the running local stack's chain)",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="re-derive every global version from its recorded updates and confirm its hash",
    )
    parser.add_argument(
        "--kafka",
        default=None,
        help="platform Kafka holding the weights, for --recompute (default: the local stack's)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from web3 import Web3

    from kafkaml.ledger import LedgerError, TrainingReader
    from kafkaml.recompute import recompute

    for name, value in (("the training", args.address), ("--token", args.token), ("--factory", args.factory)):
        if not Web3.is_address(value):
            raise UserError(f"{name}: {value!r} is not a contract address (0x followed by 40 hex digits)")
    rpc_url = _rpc_url(args.rpc_url)
    console = Console()
    console.print(f"expected platform: factory {args.factory}, token {args.token}")
    try:
        ledger = TrainingReader.open(rpc_url, args.address)
        platform = ledger.expect_platform(args.factory, args.token)  # this platform's training, or a clear error
        audit = ledger.history()
    except LedgerError as exc:
        raise UserError(str(exc)) from None
    console.print(f"created by the platform factory {platform.factory} for the token {platform.token} "
                  f"(implementation {platform.implementation})")
    show(audit, console)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(audit.to_json(), indent=2))
        console.print(f"history written to {args.json}")
    status = verify_on_blockscout(ledger, console)
    if args.recompute:
        status = max(status, show_recomputation(recompute(audit, _kafka(args.kafka)), console))
    return status


def _kafka(explicit: str | None) -> str:
    if explicit:
        return explicit
    from kafkaml.local import stack as local

    running = local.load()
    if running is None:
        raise UserError("--recompute needs the platform Kafka: pass --kafka or run 'kafkaml local up'")
    return running.bootstrap("platform")


def show_recomputation(report: RecomputeReport, console: Console) -> int:
    """Print each version's check; 1 (a failed audit) at the first mismatch, 0 when all match."""
    from rich.table import Table

    table = Table(title=f"recomputation with {report.strategy}")
    for column in ("version", "updates", "recorded", "recomputed", "result"):
        table.add_column(column)
    for check in report.checks:
        recomputed = _short(check.recomputed) if check.recomputed else "-"
        result = "[green]identical[/green]" if check.ok else f"[red]{check.problem}[/red]"
        table.add_row(str(check.version), str(check.updates), _short(check.recorded), recomputed, result)
    console.print(table)
    mismatch = report.first_mismatch
    if mismatch is None:
        console.print(f"all {len(report.checks)} versions recomputed bit for bit")
        return 0
    console.print(f"[red]first mismatch at version {mismatch.version}: {mismatch.problem}[/red]")
    return 1


def _rpc_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    configured = RPC_URL.read()
    if configured:
        return configured
    from kafkaml.local import stack as local

    running = local.load()
    if running is None:
        raise UserError("no Ethereum node given: pass --rpc-url, set ETH_RPC_URL, or run 'kafkaml local up'")
    return running.chain.address


def show(audit: Audit, console: Console) -> None:
    from rich.table import Table

    info = audit.training
    console.print(
        f"[bold]training {info.address}[/] — {audit.phase.name.lower()}, strategy {info.strategy}, "
        f"{len(audit.versions) - 1}/{info.rounds} rounds, weights topic {info.weights_topic}"
    )
    console.print(
        f"aggregator {info.aggregator}, reward token {info.token}, settings 0x{info.settings_hash.hex()}"
    )
    announcement = f"0x{audit.announcement_hash.hex()}" if audit.announcement_hash else "(not started)"
    console.print(
        f"reward budget {info.budget} base units, credited {audit.credited} "
        f"({audit.credited / info.budget:.1%} of it); announcement {announcement}"
        if info.budget else f"reward budget 0: nothing can be credited; announcement {announcement}"
    )
    table = Table(title="global versions and the updates they consumed")
    for column in (
        "version",
        "content hash",
        "pointer",
        "client",
        "base",
        "staleness",
        "samples",
        "verdict",
        "reward",
    ):
        table.add_column(
            column,
            justify="right" if column in {"version", "base", "staleness", "samples", "reward"} else "left",
        )
    for version in audit.versions:
        pointer = (
            f"p{version.pointer.partition} [{version.pointer.start_offset},{version.pointer.end_offset})"
        )
        table.add_row(
            str(version.version), _short(version.content_hash), pointer, "", "", "", "", "", "", style="bold"
        )
        for update in version.updates:
            verdict = "accepted" if update.accepted else f"rejected: {update.reason}"
            table.add_row(
                "",
                _short(update.content_hash),
                f"{update.pointer.topic} p{update.pointer.partition}",
                _short_address(update.client),
                str(update.base_version),
                str(update.staleness),
                str(update.samples),
                verdict,
                str(update.reward),
            )
    console.print(table)
    if audit.pending:
        console.print(
            f"{len(audit.pending)} updates still queued: "
            + ", ".join(f"{_short(u.content_hash)} from {u.client}" for u in audit.pending)
        )
    rewards = Table(title="clients: sample ceiling and rewards (token base units)")
    for column in ("client", "sample ceiling", "earned", "paid"):
        rewards.add_column(column, justify="left" if column == "client" else "right")
    for client in audit.clients:
        rewards.add_row(client, str(audit.sample_ceilings.get(client, "-")), str(audit.earned.get(client, 0)),
                        str(audit.paid.get(client, 0)))
    console.print(rewards)


def verify_on_blockscout(ledger: TrainingReader, console: Console) -> int:
    """Submit the sources behind the training (implementation, factory, token) when
    ETH_BLOCKSCOUT_URL is set; 0 when done or not configured, 1 when Blockscout refused."""
    from kafkaml.ledger import LedgerError
    from kafkaml.ledger.blockscout import BlockscoutError, submit, training_requests

    url = BLOCKSCOUT_URL.read()
    if not url:
        return 0
    try:
        for name, address, request in training_requests(url, ledger):
            console.print(f"Blockscout: {name} at {address}: {submit(request)}")
    except (BlockscoutError, LedgerError) as exc:
        print(f"error: verification on Blockscout failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _short(content_hash: bytes) -> str:
    return "0x" + content_hash.hex()[:12] + "…"


def _short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"
