"""The ``kafkaml`` command line: one sub-command module per concern.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)`` which adds its parser and sets
``handler`` (a function taking the parsed arguments and returning an exit code). Errors meant for
the user are raised as :class:`UserError` (or a known error type) and printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kafkaml.config import ConfigError
from kafkaml.logs import configure as configure_logging

COMMAND_MODULES = [
    "kafkaml.local.cli",
    "kafkaml.cli.config",
    "kafkaml.cli.demo",
    "kafkaml.local.train_cli",
    "kafkaml.usecases.rat.cli",
    "kafkaml.cli.audit",
    "kafkaml.cli.platform",
    "kafkaml.cli.k8s",
]


class UserError(RuntimeError):
    """An error caused by input or environment, reported as one clear line (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkaml", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any TensorFlow import: no banner noise
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ConfigError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

