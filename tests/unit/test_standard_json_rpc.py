"""The platform reaches its chain through standard JSON-RPC methods only, so that any Ethereum
node serves it (Anvil and Hardhat's node locally, Geth in a cluster): a dev node's own method
(``anvil_*``, ``hardhat_*``, ``evm_*``) anywhere but the local stack's start-up is a defect, found
here before a user of another node finds it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Everything that runs as the platform, its jobs, its tools or its UI.
SHIPPED = ("kafkaml", "backend", "federated_backend", "training_worker", "data_control_logger",
           "model_control_logger", "benchmarks", "frontend/src")
DEV_METHOD = re.compile(r"\b(?:anvil|hardhat|evm)_[a-z][A-Za-z]*\b")
#: The local stack funds the accounts it adds, as it starts, through the node it runs.
ALLOWED = {("kafkaml/local/stack.py", "anvil_setBalance"), ("kafkaml/local/stack.py", "hardhat_setBalance")}


def dev_methods(path: Path, root: Path = ROOT) -> set[tuple[str, str]]:
    """The dev-node method names in ``path``'s strings (Python, whose names such as ``anvil_binary``
    are no calls) or anywhere in it (the UI's sources)."""
    name = str(path.relative_to(root))
    if path.suffix != ".py":
        return {(name, method) for method in DEV_METHOD.findall(path.read_text(errors="replace"))}
    strings = [node.value for node in ast.walk(ast.parse(path.read_text(), name))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return {(name, method) for text in strings for method in DEV_METHOD.findall(text)}


def test_only_the_local_stacks_start_up_calls_a_dev_nodes_own_method() -> None:
    found: set[tuple[str, str]] = set()
    for top in SHIPPED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".ts", ".tsx", ".js") and "node_modules" not in path.parts:
                found |= dev_methods(path)
    # Equal, not a subset: the scan must see the start-up's own calls, or it sees nothing.
    assert found == ALLOWED, sorted(found ^ ALLOWED)


def test_a_dev_method_in_a_string_or_the_ui_is_found(tmp_path: Path) -> None:
    (tmp_path / "chain.py").write_text('def anvil_binary():\n    w3.provider.make_request("evm_mine", [])\n')
    (tmp_path / "chain.ts").write_text('await rpc("hardhat_impersonateAccount", [address]);\n')
    assert dev_methods(tmp_path / "chain.py", tmp_path) == {("chain.py", "evm_mine")}
    assert dev_methods(tmp_path / "chain.ts", tmp_path) == {("chain.ts", "hardhat_impersonateAccount")}
