"""A client the platform did not register for a training does not train it, even when its
trainer is started by hand: it checks with its own key (blockchain: the contract; classic: the
signed announcement) before it reads any data, exits with code 2 and one line saying why, and
publishes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaml.local import stack as local
from kafkaml.local.train import RunOptions, start_run, trainer_job, wait_for_end
from kafkaml.matching import registration, registration_problem
from kafkaml.messages.kinds import BlockchainInfo, ModelControl
from kafkaml.topics import update_topic
from kafkaml.workloads import make_workload
from tests.conftest import records_in
from tests.integration.ledger_fixtures import deploy


@pytest.mark.parametrize(("mode", "refusal"), [
    ("blockchain", "is not registered for the training"),
    ("classic", "('client-2') is not named by the training's announcement"),
])
def test_an_unregistered_trainer_exits_before_training(local_stack: local.Stack, tmp_path: Path, mode: str,
                                                      refusal: str) -> None:
    workload = make_workload("toy", 2, 1200, seed=7, mode="random-split")
    run = start_run(local_stack, workload, RunOptions(clients=1, rounds=2, mode=mode, stop_timeout_s=120), tmp_path)
    try:
        outsider = run.job("client-2", trainer_job(run, 2))
        code = outsider.start().wait(timeout_s=120)
        log = outsider.log_path.read_text()
        final = wait_for_end(run, timeout_s=240)  # the registered client trains on
    finally:
        run.stop()
    assert code == 2, log
    assert "cannot train: this client" in log and refusal in log and "Traceback" not in log
    assert final["versions"] == 2
    identity = local_stack.account("client-2").address if mode == "blockchain" else "client-2"
    assert records_in(local_stack.bootstrap("platform"),
                      update_topic(run.announcement.training["weights_topic"], identity)) == 0
    registered = local_stack.account("client-1").address if mode == "blockchain" else "client-1"
    assert records_in(local_stack.bootstrap("platform"),
                      update_topic(run.announcement.training["weights_topic"], registered)) > 0


def announced(coordination: str, contract: str = "0x" + "00" * 20, clients: tuple[str, ...] = ()) -> ModelControl:
    return ModelControl(model_id="m", input_shape=(8,), output_shape=(3,),
                        platform_bootstrap="platform:9092", coordination=coordination,
                        blockchain=BlockchainInfo("http://chain", 31337, contract) if coordination == "blockchain"
                        else None, control_topic="kml-fl-m" if coordination == "classic" else "", clients=clients)


def test_the_registration_rule_on_every_path(local_stack: local.Stack) -> None:
    """Registered: no problem. Anything else, including what cannot be checked, is a reason not to train."""
    t = deploy(local_stack)
    rpc = local_stack.chain.address
    training = announced("blockchain", t.aggregator.address)
    assert registration_problem(training, t.clients[0].account, rpc) == ""
    assert registration_problem(training, t.clients[0].account.lower(), rpc) == ""
    assert f"wallet {t.outsider.account} is not registered for the training {t.aggregator.address}" in \
        registration_problem(training, t.outsider.account, rpc)
    assert "wallet address is not set" in registration_problem(training, "", rpc)
    assert "no chain configured (ETH_RPC_URL)" in registration_problem(training, t.clients[0].account, "")
    assert "cannot tell whether this client is registered" in registration_problem(
        announced("blockchain", local_stack.account("platform").address), t.clients[0].account, rpc)
    assert "cannot tell whether this client is registered" in registration_problem(training, "0xnot-an-address",
                                                                                    rpc)
    assert registration(training, t.clients[0].account, rpc) == (True, "")
    assert registration(training, t.outsider.account, rpc)[0] is False  # declined for good, not asked again
    classic = announced("classic", clients=("client-1", "client-2"))
    assert registration_problem(classic, "client-2", "") == ""
    assert "('client-3') is not named by the training's announcement" in registration_problem(classic, "client-3", "")
    assert registration_problem(announced("classic"), "client-1", "") != ""
