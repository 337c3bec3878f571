"""The build is reproducible: compiling again (solc-js under Node) gives the committed bytecode."""

from __future__ import annotations

import json

from kafkaml.ledger import compiler


def test_rebuilding_reproduces_the_committed_artifacts(tmp_path):
    built = compiler.build(tmp_path)
    for name in compiler.CONTRACTS:
        committed = compiler.load_artifact(name)
        assert built[name] == committed
        assert json.loads((tmp_path / f"{name}.json").read_text()) == committed
    assert compiler.load_standard_input(tmp_path) == compiler.load_standard_input()


def test_a_compile_error_is_reported_with_the_compiler_message():
    source = {"contracts/Broken.sol": "pragma solidity 0.8.37; contract Broken { function f( }"}
    output, version = compiler.compile_standard(compiler.standard_input(source))
    assert version.startswith(compiler.SOLC_VERSION)
    assert any(e["severity"] == "error" and "Broken.sol" in e["formattedMessage"] for e in output["errors"])
