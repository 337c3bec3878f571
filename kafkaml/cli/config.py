"""``kafkaml config``: every declared setting with its default and meaning."""

from __future__ import annotations

import argparse
import importlib

from kafkaml import config

#: Modules whose import declares settings; listed so the command shows them all. The jobs'
#: module is looked up by name only to document its variables: kafkaml does not depend on it.
DECLARING_MODULES = ["kafkaml.config", "kafkaml.faults", "kafkaml.jobs.settings", "kafkaml.ledger.transactions",
                     "kafkaml.cli.platform", "kafkaml.services.settings", "kafkaml.builder", "training_worker.settings",
                     "training_worker.audit_job", "inference_worker.settings", "data_control_logger.settings",
                     "model_control_logger.settings", "backend.api.environment", "federated_backend.api.environment"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="list every environment setting and its default")
    parser.add_argument("--markdown", action="store_true", help="print the settings as the docs' markdown tables")
    parser.add_argument("--check", action="store_true",
                        help="validate the current environment for the CLI's own settings (jobs check theirs at start)")
    parser.set_defaults(handler=run)


def load_declarations() -> None:
    for name in DECLARING_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            print(f"(settings of {name} not shown: it is not installed)")


def run(args: argparse.Namespace) -> int:
    load_declarations()
    if args.markdown:
        print(config.markdown_tables(config.REGISTRY))
        return 0
    for group in config.REGISTRY:
        print(f"## {group.title}")
        for setting in group.settings:
            print(f"- {setting.describe()}")
        if args.check and not any(setting.required for setting in group.settings):
            group.load()
        print()
    if args.check:
        print("all settings of the CLI are valid")
    return 0
