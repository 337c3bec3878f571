"""The ``kafkaml`` command line: one sub-command module per concern.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)`` which adds its parser and sets
``handler`` (a function taking the parsed arguments and returning an exit code). Errors meant for
the user are raised as :class:`UserError` (or a known error type) and printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kafkaml.config import ConfigError

COMMAND_MODULES = [
    "kafkaml.local.cli",
    "kafkaml.config_cli",
    "kafkaml.demo",
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
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kafka", "urllib3", "web3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ConfigError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
