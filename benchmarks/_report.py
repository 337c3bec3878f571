"""What every benchmark does with its headline figures: one flat JSON object at ``--json PATH``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """Write ``figures`` as one flat JSON object to ``path`` (nothing when no path was given)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")


def p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method; the value itself when there is one)."""
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
