"""``kafkaml audit`` on a real chain, and the Blockscout verification request it would send."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import default as email_policy

import pytest

from kafkaml.cli import main
from kafkaml.ledger import TrainingReader, UpdateOutcome
from kafkaml.ledger.blockscout import BlockscoutError, training_requests, verification_request
from kafkaml.ledger.compiler import load_artifact, load_standard_input, sha256_text
from kafkaml.ledger.contracts import deploy_contract
from kafkaml.processes import free_port
from kafkaml.topics import update_topic
from tests.integration.ledger_fixtures import WEIGHTS_TOPIC, deploy, digest, foreign_clone, global_pointer


def expected(ledger: TrainingReader) -> list[str]:
    """The ``--token`` and ``--factory`` of the platform that created ``ledger``'s training."""
    platform = ledger.platform()
    return ["--token", platform.token, "--factory", platform.factory]


@pytest.fixture(scope="module")
def finished(local_stack):
    """A finished training: v1 from a fresh update, v2 from a stale accepted and a rejected one;
    a budget of 100 of which 35 credited; sample ceilings of 60, one update reporting more."""
    t = deploy(local_stack, rounds=4, budget=100, ceiling=60)
    a, b, c = digest("a"), digest("b"), digest("c")
    t.submit(0, a, samples=1000)  # capped to 60
    t.aggregator.record_round(digest("v1"), global_pointer(1), [UpdateOutcome(a, True, 30)])
    t.submit(1, b, base=0, samples=60)  # trained from version 0, aggregated into version 2: staleness 1
    t.submit(0, c, samples=7)
    t.aggregator.record_round(
        digest("v2"),
        global_pointer(2),
        [UpdateOutcome(b, True, 5), UpdateOutcome(c, False, reason="hash-mismatch")],
    )
    t.submit(1, d := digest("d"))
    t.aggregator.finish()
    t.aggregator.pay_rewards()
    return t, (a, b, c, d)


def test_audit_rebuilds_the_history_from_events(local_stack, finished, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ETH_BLOCKSCOUT_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough that no cell is cut short
    t, (a, b, c, d) = finished
    out = tmp_path / "audit.json"
    assert (
        main(["audit", t.aggregator.address, *expected(t.aggregator), "--rpc-url", local_stack.chain.address,
              "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    platform = t.aggregator.platform()
    assert f"expected platform: factory {platform.factory}, token {platform.token}" in printed
    assert "rejected: hash-mismatch" in printed and t.clients[0].account in printed
    announcement = t.aggregator.announcement_hash()
    assert announcement is not None
    assert "reward budget 100 base units, credited 35 (35.0% of it)" in printed
    assert f"announcement 0x{announcement.hex()}" in printed
    history = json.loads(out.read_text())
    assert history["phase"] == "finished" and history["training"]["weights_topic"] == WEIGHTS_TOPIC
    versions = history["versions"]
    assert [v["version"] for v in versions] == [0, 1, 2]
    assert versions[0]["updates"] == []
    rows = [
        (
            u["content_hash"],
            u["client"],
            u["base_version"],
            u["staleness"],
            u["accepted"],
            u["reward"],
            u["reason"],
            u["samples"],
            u["pointer"]["topic"],
        )
        for v in versions
        for u in v["updates"]
    ]
    one, two = (c.account for c in t.clients)
    assert rows == [
        ("0x" + a.hex(), one, 0, 0, True, 30, "", 60, update_topic(WEIGHTS_TOPIC, one)),
        ("0x" + b.hex(), two, 0, 1, True, 5, "", 60, update_topic(WEIGHTS_TOPIC, two)),
        ("0x" + c.hex(), one, 1, 0, False, 0, "hash-mismatch", 7, update_topic(WEIGHTS_TOPIC, one)),
    ]
    assert history["training"]["budget"] == 100
    assert history["sample_ceilings"] == {one: 60, two: 60}
    assert history["announcement_hash"] == "0x" + announcement.hex()
    assert [u["content_hash"] for u in history["pending"]] == ["0x" + d.hex()]
    assert history["earned"] == history["paid"] == {one: 30, two: 5}
    assert all(v["timestamp"] > 0 for v in versions)
    audit = TrainingReader.open(local_stack.chain.address, t.aggregator.address).history()
    assert audit.credited == 35 == t.aggregator.credited()
    assert audit.training.budget == 100 and audit.announcement_hash == announcement


def test_audit_refuses_bad_addresses_clearly(local_stack, finished, capsys):
    t, _ = finished
    assert main(["audit", "0x1234", *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 2
    assert "not a contract address" in capsys.readouterr().err
    assert main(["audit", "0x" + "77" * 20, *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 2
    assert "no contract at" in capsys.readouterr().err
    assert main(["audit", t.aggregator.address, "--token", "0x12", "--factory", "0x" + "77" * 20,
                 "--rpc-url", local_stack.chain.address]) == 2
    assert "--token: '0x12' is not a contract address" in capsys.readouterr().err


def test_audit_refuses_a_training_of_a_look_alike_platform(local_stack, finished, capsys):
    """Issue 18 (7): the same contracts deployed as another platform (own factory, own token)
    create a training that is genuine for that platform; audited against the expected platform's
    token and factory, it fails with both platforms named."""
    t, _ = finished
    look_alike = deploy(local_stack, rounds=2)
    other = look_alike.aggregator.platform()
    assert other.token != t.aggregator.platform().token
    assert main(["audit", look_alike.aggregator.address, *expected(t.aggregator),
                 "--rpc-url", local_stack.chain.address]) == 2
    refused = capsys.readouterr()
    assert f"created by the factory {other.factory} for the token {other.token}" in refused.err
    assert "not this platform's training" in refused.err
    assert main(["audit", look_alike.aggregator.address, *expected(look_alike.aggregator),
                 "--rpc-url", local_stack.chain.address]) == 0


def test_audit_refuses_a_clone_the_factory_did_not_create(local_stack, finished, capsys):
    """Issue 10 (9): `kafkaml audit` accepts a training only when the platform's factory created
    it; a clone of its implementation made by anyone else is refused with a clear message."""
    t, _ = finished
    platform = t.aggregator.platform()
    foreign = foreign_clone(
        t.outsider, platform.implementation, aggregator=t.outsider.account, token=platform.token
    )
    assert main(["audit", foreign, *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 2
    assert "was never initialised as a training by a factory" in capsys.readouterr().err
    # Initialised, but on an implementation of its own (whose "factory" is the attacker).
    own = deploy_contract(t.outsider.sender, load_artifact("FederatedLearning"), [], "look-alike")
    head = t.outsider.rpc.w3.eth.block_number
    look_alike = foreign_clone(
        t.outsider, own, aggregator=t.outsider.account, token=platform.token, created_block=head + 2
    )
    training = t.outsider.rpc.w3.eth.contract(
        address=look_alike, abi=load_artifact("FederatedLearning")["abi"]
    )
    t.outsider.sender.transact(
        {"to": look_alike, "data": training.encode_abi("initialize", args=["w", "s"])}, "init"
    )
    assert main(["audit", look_alike, *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 2
    assert "not of the implementation" in capsys.readouterr().err


def test_the_blockscout_requests_verify_the_contracts_behind_a_training(local_stack, finished):
    t, _ = finished
    platform = t.aggregator.platform()
    w3 = t.aggregator.rpc.w3
    factory = w3.eth.contract(address=platform.factory, abi=load_artifact("TrainingFactory")["abi"])
    assert factory.functions.implementation().call() == platform.implementation
    assert factory.functions.token().call() == platform.token == t.aggregator.info().token
    requests = training_requests("http://blockscout.example:4000/", t.aggregator)
    assert [(name, address) for name, address, _ in requests] == [
        ("FederatedLearning", platform.implementation),
        ("TrainingFactory", platform.factory),
        ("RewardToken", platform.token),
    ]
    for name, address, request in requests:
        assert request.method == "POST"
        assert request.url == (
            f"http://blockscout.example:4000/api/v2/smart-contracts/{address}/verification/via/standard-input"
        )
        parts = _multipart(request)
        artifact = load_artifact(name)
        assert parts["compiler_version"] == b"v0.8.37+commit.f401782d"
        assert parts["contract_name"] == f"contracts/{name}.sol:{name}".encode()
        assert parts["license_type"] == b"mit" and parts["autodetect_constructor_args"] == b"false"
        assert parts["constructor_args"] == b""
        sent_input = json.loads(parts["files[0]"])
        assert sent_input == load_standard_input()
        assert {u: sha256_text(s["content"]) for u, s in sent_input["sources"].items()} == artifact["sources"]
        assert sent_input["settings"] == artifact["settings"]
        # What Blockscout compiles is what runs there (immutables aside: same length, same code).
        assert len(bytes(w3.eth.get_code(address))) == (len(artifact["deployedBytecode"]) - 2) // 2

    # The factory was deployed by a transaction whose input is exactly the artifact's bytecode.
    factory_creation = bytes.fromhex(load_artifact("TrainingFactory")["bytecode"][2:])
    verification_request("http://blockscout.example", "TrainingFactory", platform.factory, factory_creation)
    with pytest.raises(BlockscoutError, match="not built from the committed artifacts"):
        verification_request(
            "http://blockscout.example", "FederatedLearning", platform.implementation, b"\x60"
        )
    with pytest.raises(BlockscoutError, match="not an http"):
        verification_request("blockscout.example", "RewardToken", platform.token)


def test_the_blockscout_request_for_a_clone_itself_points_to_its_contracts(finished):
    t, _ = finished
    creation = _creation_input(t.aggregator)  # the factory call that created the clone
    with pytest.raises(BlockscoutError, match="training clone"):
        verification_request("http://blockscout.example", "FederatedLearning", t.aggregator.address, creation)


def test_an_unreachable_blockscout_is_reported_and_an_absent_one_skipped(
    local_stack, finished, capsys, monkeypatch
):
    t, _ = finished
    monkeypatch.setenv("ETH_BLOCKSCOUT_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["audit", t.aggregator.address, *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 1
    assert "verification on Blockscout failed" in capsys.readouterr().err
    monkeypatch.setenv("ETH_BLOCKSCOUT_URL", "")
    assert main(["audit", t.aggregator.address, *expected(t.aggregator), "--rpc-url", local_stack.chain.address]) == 0
    assert TrainingReader.open(local_stack.chain.address, t.aggregator.address).phase().name == "FINISHED"


def _multipart(request) -> dict[str, bytes]:
    """The form fields of a prepared multipart request, parsed back from the exact body bytes."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=email_policy).parsebytes(head + request.body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def _creation_input(ledger) -> bytes:
    """The input of the transaction that created the training (found through its first event)."""
    w3, created = ledger.rpc.w3, ledger.info().created_block
    logs = w3.eth.get_logs({"address": ledger.address, "fromBlock": created, "toBlock": created})
    return bytes(w3.eth.get_transaction(logs[0]["transactionHash"])["input"])
