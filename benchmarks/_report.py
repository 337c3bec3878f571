"""What every benchmark does with its headline figures: one flat JSON object at ``--json PATH``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """Write ``figures`` as one flat JSON object to ``path`` (nothing when no path was given)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")


def print_and_write(title: str, figures: dict[str, Any], path: Path | None) -> None:
    """Print ``figures`` as a two-column table, then write them (:func:`write_figures`)."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, str(value))
    Console().print(table)
    write_figures(path, figures)


def p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method; the value itself when there is one)."""
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
