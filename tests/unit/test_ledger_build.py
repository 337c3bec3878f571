"""The committed contract artifacts are in step with the sources (no compiler run needed)."""

from __future__ import annotations

import json
import shutil

import pytest

from kafkaml.ledger import compiler


def test_artifacts_are_built_from_the_current_sources():
    stale = compiler.stale_sources()
    assert stale == [], f"contract artifacts are stale for {stale}: run 'make setup' (contracts/build.py)"


def test_committed_standard_input_is_what_the_build_would_compile():
    assert compiler.load_standard_input() == compiler.standard_input()


def test_artifacts_record_compiler_settings_and_code():
    for name, unit in compiler.CONTRACTS.items():
        artifact = compiler.load_artifact(name)
        assert artifact["sourceName"] == unit
        assert artifact["compiler"]["version"].startswith(compiler.SOLC_VERSION + "+commit.")
        assert artifact["settings"]["optimizer"]["enabled"] is True
        assert len(artifact["bytecode"]) > len(artifact["deployedBytecode"]) > 1000
        assert unit in artifact["sources"] and all(len(h) == 64 for h in artifact["sources"].values())
        assert any(entry["type"] == "constructor" for entry in artifact["abi"])


def test_an_edited_source_makes_the_artifacts_stale(tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(compiler.ARTIFACTS_DIR, copy)
    path = copy / "FederatedLearning.json"
    artifact = json.loads(path.read_text())
    artifact["sources"]["contracts/FederatedLearning.sol"] = "0" * 64
    artifact["sources"]["contracts/Removed.sol"] = "1" * 64
    path.write_text(json.dumps(artifact))
    assert compiler.stale_sources(copy) == ["contracts/FederatedLearning.sol", "contracts/Removed.sol"]
    artifact["settings"] = {**artifact["settings"], "evmVersion": "cancun"}
    path.write_text(json.dumps(artifact))
    assert "(settings of FederatedLearning)" in compiler.stale_sources(copy)


def test_imports_are_resolved_to_openzeppelin_and_relative_units():
    sources = compiler.collect_sources()
    assert {
        "contracts/FederatedLearning.sol",
        "contracts/RewardToken.sol",
        "@openzeppelin/contracts/token/ERC20/ERC20.sol",
        "@openzeppelin/contracts/access/AccessControl.sol",
        "@openzeppelin/contracts/utils/Context.sol",
    } <= set(sources)
    assert not [unit for unit in sources if "./" in unit or unit.startswith("/")]


def test_a_missing_import_fails_with_its_name():
    with pytest.raises(compiler.BuildError, match="contracts/Missing.sol"):
        compiler.collect_sources(["contracts/Missing.sol"])
