"""Only the contract (kafkaml/jobs/contract.py) writes a training job's environment: a module of
the services that spelled a job variable as a dict key, an item assignment or a keyword would
be a second writer, free to drift from the names the jobs read."""

from __future__ import annotations

import ast
from pathlib import Path

from inference_worker.settings import INFERENCE
from kafkaml import config
from kafkaml.cli.config import load_declarations
from kafkaml.jobs import AggregatorJob, InferenceJob, SingleTrainingJob, TrainerJob
from training_worker.settings import AGGREGATOR_GROUPS, SINGLE_GROUPS, TRAINER_GROUPS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("backend", "federated_backend", "kafkaml")
CONTRACT = ROOT / "kafkaml" / "jobs" / "contract.py"


def job_only_names() -> set[str]:
    """The names a service sends its jobs that no service reads itself: a name a backend or a
    logger also declares (``BOOTSTRAP_SERVERS``, ``ETH_RPC_URL``...) is also written for them."""
    load_declarations()
    jobs = {id(group) for group in (*AGGREGATOR_GROUPS, *TRAINER_GROUPS, *SINGLE_GROUPS, INFERENCE)}
    others = {setting.name for group in config.REGISTRY if id(group) not in jobs for setting in group.settings}
    return (AggregatorJob.variables() | TrainerJob.variables() | SingleTrainingJob.variables()
            | InferenceJob.variables()) - others


def written_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every string written as a dict key, an item assignment's key or a keyword."""
    found = []
    for node in ast.walk(tree):
        keys: list[ast.expr | None] = []
        if isinstance(node, ast.Dict):
            keys = list(node.keys)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            keys = [target.slice for target in targets if isinstance(target, ast.Subscript)]
        elif isinstance(node, ast.Call):
            found += [(node.lineno, keyword.arg) for keyword in node.keywords if keyword.arg]
        found += [(key.lineno, key.value) for key in keys
                  if isinstance(key, ast.Constant) and isinstance(key.value, str)]
    return found


def test_the_names_are_those_of_the_jobs() -> None:
    names = job_only_names()
    assert {"AGGREGATION_ROUNDS", "FEDERATED_MODEL_ID", "CLIENT_SAMPLE_CEILINGS", "SIMULATED_SLOWDOWN"} <= names
    assert sorted(written_names(ast.parse('env = {"AGGREGATION_ROUNDS": "3"}\nenv["SEED"] = "1"\nenv.update(EPOCHS="2")'))) \
        == [(1, "AGGREGATION_ROUNDS"), (2, "SEED"), (3, "EPOCHS")]


def test_no_module_but_the_contract_writes_a_job_environment() -> None:
    names = job_only_names()
    found = [f"{path.relative_to(ROOT)}:{line} writes {name}"
             for package in SCANNED for path in sorted((ROOT / package).rglob("*.py")) if path != CONTRACT
             for line, name in written_names(ast.parse(path.read_text(), str(path))) if name in names]
    assert not found, found
