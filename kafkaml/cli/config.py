"""``kafkaml config``: every declared setting with its default and meaning."""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
from pathlib import Path

import kafkaml
from kafkaml import config

#: Where the project's packages sit: beside ``kafkaml`` (the repository, or ``/app`` in the images).
PACKAGES_ROOT = Path(kafkaml.__file__).resolve().parent.parent
#: The name a package's ``__init__`` gives the modules that declare its settings.
REGISTRATION = "SETTINGS_MODULES"


def declaring_modules(root: Path = PACKAGES_ROOT) -> list[str]:
    """Every module a package beside ``kafkaml`` registers in its ``SETTINGS_MODULES``, ``kafkaml``'s
    first. Each package names its own (the images run from ``/app`` without installing the
    distribution, so there are no entry points to ask); only a package whose ``__init__`` assigns
    ``SETTINGS_MODULES`` is imported, so an installation among other packages imports none of them."""
    registering = sorted(info.name for info in pkgutil.iter_modules([str(root)])
                         if info.ispkg and _registers(root / info.name / "__init__.py"))
    ordered = sorted(registering, key=lambda name: name != "kafkaml")
    return [module for package in ordered for module in getattr(importlib.import_module(package), REGISTRATION)]


def _registers(init: Path) -> bool:
    """Whether a package's ``__init__`` assigns ``SETTINGS_MODULES`` at its top level (read, not run)."""
    try:
        tree = ast.parse(init.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(target, ast.Name) and target.id == REGISTRATION
               for node in tree.body if isinstance(node, ast.Assign) for target in node.targets)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="list every environment setting and its default")
    parser.add_argument("--markdown", action="store_true", help="print the settings as the docs' markdown tables")
    parser.add_argument("--check", action="store_true",
                        help="validate the current environment for the CLI's own settings (jobs check theirs at start)")
    parser.set_defaults(handler=run)


def load_declarations() -> None:
    for name in declaring_modules():
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
