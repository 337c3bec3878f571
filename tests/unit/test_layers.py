"""The layers of the code, held by its imports (read from the source, nothing is run).

``kafkaml/`` is three things: the **core** every part needs (messages, weights, ledger,
strategies, rewards, jobs...), the **Django plumbing** both services share (``services/``: their
settings, HTTP edge, schema, reconciler and the registry app) and the **command-line faces** (``cli/``: the ``kafkaml`` command and its sub-commands, the
platform's HTTP client; ``local/``, the local stack; a use case's ``cli.py``). A job imports the core only, never Django or a CLI; a
service imports the core and the plumbing, never a CLI; the core imports neither. A module that
crosses a layer is named here with what it imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS = ("training_worker", "inference_worker")
SERVICES = ("backend", "federated_backend", "data_control_logger", "model_control_logger")
ALLOWED = {"core": {"core"}, "plumbing": {"core", "plumbing"}, "face": {"core", "plumbing", "face"},
           "job": {"core"}, "service": {"core", "plumbing"}}


def layer_of(module: str) -> str | None:
    """The layer of a module of the project (None: not the project's)."""
    top, _, rest = module.partition(".")
    if top in JOBS:
        return "job"
    if top in SERVICES:
        return "service"
    if top != "kafkaml":
        return "django" if top == "django" or top == "rest_framework" else None
    leaf = rest.rsplit(".", 1)[-1]
    if rest == "services" or rest.startswith("services."):
        return "plumbing"
    if rest == "cli" or rest.startswith(("cli.", "local")) or leaf == "cli" or leaf.endswith("_cli"):
        return "face"
    return "core"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> set[str]:
    """Every module an import names (``from a import b`` names ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def crossings() -> list[str]:
    found = []
    paths = [*(ROOT / "kafkaml").rglob("*.py"), *(path for top in (*JOBS, *SERVICES) for path in (ROOT / top).rglob("*.py"))]
    for path in sorted(paths):
        if "migrations" in path.parts:
            continue
        source = module_of(path)
        layer = layer_of(source)
        for name in sorted(imported(ast.parse(path.read_text(), str(path)))):
            target = layer_of(name)
            if target == "django" and layer in ("core", "job", "face"):
                found.append(f"{source} ({layer}) imports {name}")
            elif target not in (None, "django", "job", "service") and target not in ALLOWED[layer]:
                found.append(f"{source} ({layer}) imports {name} ({target})")
    return found


def test_the_layers_of_the_module_names() -> None:
    assert [layer_of(name) for name in ("kafkaml.ledger.reader", "kafkaml.services.registry.models", "kafkaml.services.api",
                                        "kafkaml.local.stack", "kafkaml.cli.platform", "kafkaml.usecases.rat.cli",
                                        "training_worker.single", "backend.api.models", "django.db")] \
        == ["core", "plumbing", "plumbing", "face", "face", "face", "job", "service", "django"]
    tree = ast.parse("import kafkaml.local.stack\nfrom kafkaml.services.registry import models\nfrom . import x")
    assert imported(tree) == {"kafkaml.local.stack", "kafkaml.services.registry", "kafkaml.services.registry.models"}


def test_no_module_imports_past_its_layer() -> None:
    assert crossings() == []
