"""``kafkaml config``: every declared setting with its default and meaning."""

from __future__ import annotations

import argparse
import importlib

from kafkaml import config

#: Modules whose import declares settings; listed so the command shows them all.
DECLARING_MODULES = ["kafkaml.config", "training_worker.settings"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="list every environment setting and its default")
    parser.add_argument("--check", action="store_true", help="validate the current environment")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for name in DECLARING_MODULES:
        importlib.import_module(name)
    for group in config.REGISTRY:
        print(f"## {group.title}")
        for setting in group.settings:
            print(f"- {setting.describe()}")
        if args.check:
            group.load()
        print()
    if args.check:
        print("all settings valid")
    return 0
