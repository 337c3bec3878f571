"""docs/configuration.md is the generated list of every setting: it must not drift from the code."""

from __future__ import annotations

from pathlib import Path

from kafkaml import config
from kafkaml.cli.config import load_declarations

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


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
