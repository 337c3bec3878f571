"""docs/configuration.md is the generated list of every setting: it must not drift from the code."""

from __future__ import annotations

import ast
from pathlib import Path

from kafkaml import config
from kafkaml.cli.config import declaring_modules, load_declarations

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
PACKAGES = ("kafkaml", "training_worker", "inference_worker", "data_control_logger", "model_control_logger", "backend",
            "federated_backend")


def modules_calling_declare() -> set[str]:
    """Every module of the project's packages whose top level calls ``declare(...)``."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            calls = [node for statement in tree.body for node in ast.walk(statement)
                     if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "declare"]
            if calls:
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_every_package_registers_the_modules_that_declare_its_settings() -> None:
    declaring = modules_calling_declare()
    assert "training_worker.settings" in declaring and "kafkaml.config" in declaring  # the scan finds them
    registered = declaring_modules()
    assert registered[0].startswith("kafkaml."), "kafkaml's own settings come first"
    assert len(registered) == len(set(registered))
    assert set(registered) == declaring, "a package's SETTINGS_MODULES (its __init__.py) must name exactly its " \
        "modules that call declare(): " f"missing {sorted(declaring - set(registered))}, " \
        f"extra {sorted(set(registered) - declaring)}"


def test_only_packages_that_register_are_imported(tmp_path: Path, monkeypatch) -> None:
    for name, init in (("kml_probe_foreign", "raise SystemExit('a package without SETTINGS_MODULES was imported')\n"),
                       ("kml_probe_registering", "SETTINGS_MODULES = ('kml_probe_registering.settings',)\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(init)
    (tmp_path / "kml_probe_module.py").write_text("raise SystemExit('a module was imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert declaring_modules(tmp_path) == ["kml_probe_registering.settings"]


def test_configuration_doc_matches_the_declarations() -> None:
    load_declarations()
    text = DOC.read_text()
    generated = config.markdown_tables(config.REGISTRY)
    assert text[text.index("### "):].strip() == generated.strip(), (
        "docs/configuration.md is stale: regenerate its tables with `kafkaml config --markdown`")


def test_markdown_rows_show_limits_and_required() -> None:
    row = config.Setting("BATCH", "batch size", kind="int", default=32, minimum=1).markdown_row()
    assert row == "| `BATCH` | int | 32 | batch size Minimum 1. |"
    assert "(required)" in config.Setting("TOPIC", "the topic").markdown_row()
