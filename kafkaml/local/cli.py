"""``kafkaml local up|status|down|logs``: manage the local stack from any shell."""

from __future__ import annotations

import argparse
import json
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the handlers import what they use: registering the parser imports nothing heavy
    from rich.console import Console

    from kafkaml.local import stack


@cache
def console() -> Console:
    from rich.console import Console

    return Console()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("local", help="start, check and stop the local stack of brokers and chain")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="state directory (default: $KAFKAML_RUN_DIR or ~/.local/state/kafkaml/local)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start what is not running and wait until everything answers")
    up.add_argument("--clients", type=int, default=2, help="federated client brokers (default 2)")
    up.add_argument("--broker-port", type=int, default=None, help="port of the platform broker (default: free)")
    up.add_argument("--chain-port", type=int, default=None, help="port of the chain RPC (default: free)")
    up.add_argument("--no-platform", action="store_true",
                    help="brokers and chain only, without the platform backend")
    up.set_defaults(handler=run_up)

    status = actions.add_parser("status", help="check every part for real")
    status.add_argument("--json", action="store_true", help="print the parts as JSON (platform_url included)")
    status.set_defaults(handler=run_status)
    actions.add_parser("down", help="stop every part and forget the stack").set_defaults(handler=run_down)

    logs = actions.add_parser("logs", help="show the parts' log files")
    logs.add_argument("part", nargs="?", default=None, help="platform, client-<n> or chain (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=30)
    logs.set_defaults(handler=run_logs)


def run_up(args: argparse.Namespace) -> int:
    from kafkaml.local import stack

    started = time.monotonic()
    running = stack.up(args.clients, args.run_dir, broker_port=args.broker_port, chain_port=args.chain_port,
                       with_platform=not args.no_platform)
    console().print(f"local stack healthy in {time.monotonic() - started:.2f} s (run dir {running.run_dir})")
    return _print_status(stack.status(running.run_dir), running)


def run_status(args: argparse.Namespace) -> int:
    from kafkaml.local import stack

    current = stack.load(args.run_dir)
    if current is None:
        console().print(f"no local stack in {args.run_dir or stack.default_run_dir()}; start one with "
                      "'kafkaml local up'")
        return 1
    statuses = stack.status(current.run_dir)
    if args.json:
        print(json.dumps(status_json(statuses, current), indent=2))
        return 0 if all(item.healthy for item in statuses) else 1
    return _print_status(statuses, current)


def status_json(statuses: list[stack.PartStatus], current: stack.Stack) -> dict:
    """The parts with their URLs; the backend's under ``platform_url`` (what scripts look for)."""
    from kafkaml.local import client, platform

    backend = current.backend
    return {
        "run_dir": str(current.run_dir), "chain_id": current.chain_id, "chain_node": current.chain_node,
        "platform_url": backend.address if backend else None,
        "admin_credentials": str(current.run_dir / platform.ADMIN_FILE) if backend else None,
        "platform_token": current.platform_token or None,
        "clients": {part.client: {"federated_backend_url": part.address,
                                  "admin_credentials": str(client.directory(current, part.client) / "admin.json")}
                    for part in current.parts if part.kind == "client-backend"},
        "parts": [{"name": item.part.name, "kind": item.part.kind, "address": item.part.address,
                   "pid": item.part.pid, "running": item.running, "healthy": item.healthy, "note": item.note}
                  for item in statuses],
        "accounts": [{"role": a.role, "address": a.address, "key_file": str(a.key_file)} for a in current.accounts],
    }


def run_down(args: argparse.Namespace) -> int:
    from kafkaml.local import stack

    stopped = stack.down(args.run_dir)
    if stopped:
        console().print(f"stopped {', '.join(stopped)}; nothing of the local stack is running")
    else:
        console().print("no local stack was running; nothing to stop")
    return 0


def run_logs(args: argparse.Namespace) -> int:
    from kafkaml import processes
    from kafkaml.local import stack

    current = stack.load(args.run_dir)
    if current is None:
        console().print("no local stack; nothing to show")
        return 1
    names = [part.name for part in current.parts]
    if args.part is not None and args.part not in names:
        console().print(f"[red]no part named {args.part!r}; parts: {', '.join(names)}[/red]")
        return 2
    for name in [args.part] if args.part else names:
        path = stack.log_path(current.run_dir, name)
        console().rule(f"{name} ({path})")
        console().print(processes.tail(path, args.lines) or "(empty)", markup=False, highlight=False)
    return 0


def _print_status(statuses: list[stack.PartStatus], current: stack.Stack) -> int:
    from rich.table import Table

    table = Table(title="kafkaml local stack")
    for column in ("part", "kind", "address", "pid", "health", "note"):
        table.add_column(column)
    for item in statuses:
        health = "[green]healthy[/green]" if item.healthy else "[red]down[/red]"
        table.add_row(item.part.name, item.part.kind, item.part.address, str(item.part.pid or "-"),
                      health, item.note)
    console().print(table)
    accounts = Table(title="funded accounts (key files are mode 0600)")
    for column in ("role", "address", "key file"):
        accounts.add_column(column)
    for account in current.accounts:
        accounts.add_row(account.role, account.address, str(account.key_file))
    console().print(accounts)
    healthy = sum(item.healthy for item in statuses)

    def count(*kinds: str) -> int:
        return sum(item.healthy for item in statuses if item.part.kind in kinds)

    services = f", {count('backend', 'logger')} healthy service(s)" if count("backend", "logger") else ""
    console().print(f"{count('broker')} healthy broker(s), {count('chain')} healthy chain(s){services}, "
                  f"{len(statuses) - healthy} down")
    return 0 if healthy == len(statuses) else 1
