"""The training jobs hold keys and the inference worker a token, so none of their code may run user
source (it is the builder's job; the worker loads a model with Keras' safe mode, which runs none)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS = (ROOT / "training_worker", ROOT / "inference_worker")
FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__"}
FORBIDDEN_NAMES = {"build_model", "model_from_json", "build_isolated", "build_as_job"}
FORBIDDEN_MODULES = {"kafkaml.builder", "kafkaml.sandbox"}


def test_the_jobs_never_run_user_code() -> None:
    found = []
    for path in sorted(path for jobs in JOBS for path in jobs.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {node.func.id}")
            if isinstance(node, ast.Name | ast.alias | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.name if isinstance(node, ast.alias) else node.attr
                if name in FORBIDDEN_NAMES:
                    found.append(f"{path.name}:{getattr(node, 'lineno', '?')} uses {name}")
            modules = [node.module] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name}:{node.lineno} imports {module}" for module in modules if module in FORBIDDEN_MODULES]
    assert not found, found
