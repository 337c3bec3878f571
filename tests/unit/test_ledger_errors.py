"""Revert data becomes typed exceptions; outcomes and keys are validated before anything is sent."""

from __future__ import annotations

import logging

import pytest
from eth_abi import encode
from eth_utils import keccak

from kafkaml.ledger import errors
from kafkaml.ledger.compiler import load_artifact
from kafkaml.ledger.records import MAX_REWARD, UpdateOutcome, decode_verdict
from kafkaml.ledger.transactions import load_account, public_url

TRAINING_ABI = load_artifact("FederatedLearning")["abi"]
TOKEN_ABI = load_artifact("RewardToken")["abi"]
SAMPLE = {
    "address": "0x" + "ab" * 20,
    "bytes32": b"\x07" * 32,
    "uint32": 7,
    "uint8": 1,
    "uint256": 9,
    "bytes4": b"\x01\x02\x03\x04",
}


def _revert_data(entry: dict) -> bytes:
    types = [i["type"] for i in entry["inputs"]]
    selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
    return selector + encode(types, [SAMPLE[t] for t in types])


@pytest.mark.parametrize("entry", [e for e in TRAINING_ABI if e["type"] == "error"], ids=lambda e: e["name"])
def test_every_contract_error_has_its_own_python_exception(entry):
    decoded = errors.ErrorDecoder(TRAINING_ABI, TOKEN_ABI).decode("0x" + _revert_data(entry).hex())
    assert type(decoded).__name__ == entry["name"]
    assert isinstance(decoded, errors.ContractRevert) and isinstance(decoded, errors.LedgerError)
    assert list(decoded.args_by_name) == [i["name"] for i in entry["inputs"]]
    assert str(decoded).startswith(entry["name"] + "(")


def test_token_errors_decode_by_name_even_without_a_class():
    decoder = errors.ErrorDecoder(TRAINING_ABI, TOKEN_ABI)
    entry = next(e for e in TOKEN_ABI if e["type"] == "error" and e["name"] == "ERC20InvalidReceiver")
    decoded = decoder.decode(_revert_data(entry))
    assert type(decoded) is errors.ContractRevert and decoded.name == "ERC20InvalidReceiver"


def test_panics_plain_reverts_and_unknown_data():
    decoder = errors.ErrorDecoder(TRAINING_ABI)
    panic = decoder.decode(keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11]))
    assert isinstance(panic, errors.PanicError) and panic.args_by_name == {"code": 0x11}
    plain = decoder.decode(keccak(text="Error(string)")[:4] + encode(["string"], ["boom"]))
    assert str(plain) == "boom"
    unknown = decoder.decode({"data": "0xdeadbeef"})
    assert unknown.name == "UnknownRevert" and "deadbeef" in str(unknown)
    assert decoder.decode(None).name == "UnknownRevert"


def test_outcomes_are_checked_and_verdicts_round_trip():
    h = b"\x01" * 32
    for outcome, decoded in (
        (UpdateOutcome(h, True, 5), (True, 5, "")),
        (UpdateOutcome(h, True), (True, 0, "")),
        (UpdateOutcome(h, True, MAX_REWARD), (True, MAX_REWARD, "")),
        (UpdateOutcome(h, False), (False, 0, "rejected")),
        (UpdateOutcome(h, False, reason="stale"), (False, 0, "stale")),
        (UpdateOutcome(h, False, reason="x" * 32), (False, 0, "x" * 32)),
    ):
        word = outcome.verdict()
        assert len(word) == 32 and decode_verdict(word) == decoded
    for bad in (
        dict(accepted=True, reward=MAX_REWARD + 1),
        dict(accepted=False, reason="\x00stale"),
        dict(accepted=False, reward=1),
        dict(accepted=True, reason="x"),
        dict(accepted=True, reward=-1),
        dict(accepted=False, reason="x" * 33),
        dict(accepted=False, reason="café"),
    ):
        with pytest.raises(ValueError):
            UpdateOutcome(h, **bad)
    with pytest.raises(ValueError):
        UpdateOutcome(b"short", True)


def test_a_bad_key_is_refused_without_quoting_it(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "9f" * 31 + "zz"
    with pytest.raises(errors.LedgerError) as error:
        load_account(secret)
    assert secret not in str(error.value) and secret not in caplog.text
    assert load_account("0x" + "11" * 32).address.startswith("0x")


def test_node_urls_are_shown_without_credentials():
    assert public_url("https://user:pw@node.example.io/v3/SECRET-KEY") == "https://node.example.io"
    assert public_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
