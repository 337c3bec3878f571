"""A client whose updates are rejected again and again is excluded (``REWARD_EXCLUDE_AFTER``): its
later updates are rejected unread as ``excluded_client``, recorded on chain like any verdict, and
none of them is ever aggregated or paid. The aggregator is killed after its first recorded round
and restarted: the rejections it counted before are rebuilt from the chain's record, so the client
is excluded after the same number of rejections as without the restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kafkaml.faults import FAULT_EXIT_CODE, FAULT_POINT
from kafkaml.heterogeneity import Heterogeneity
from kafkaml.ledger import LedgerError, TrainerLedger, TrainingReader
from kafkaml.local import stack as local
from kafkaml.local.train import RunOptions, start_run, wait_for_end
from kafkaml.topics import update_topic
from kafkaml.weights.codec import update_metadata, weights_hash
from kafkaml.weights.transport import fetch_weights, publish_weights
from kafkaml.workloads import make_workload

EXCLUDE_AFTER = 2
ROUNDS = 12


def test_a_client_rejected_twice_is_excluded_and_never_aggregated(local_stack: local.Stack, tmp_path: Path) -> None:
    attacker = local_stack.account("client-3")
    stop = threading.Event()
    submitted: list[bytes] = []
    crashed: list[BaseException] = []

    def submit_tampered(run_holder: list) -> None:
        """As client 3, for every version: publish weights but submit the hash of other weights."""
        while not run_holder:
            time.sleep(0.1)
        run = run_holder[0]
        ledger = TrainerLedger.open(local_stack.chain.address, run.announcement.blockchain.contract_address,
                             attacker.private_key())
        topic = update_topic(run.announcement.training["weights_topic"], attacker.address)
        while not stop.is_set():
            latest = ledger.latest_version()
            if ledger.phase().name != "ACTIVE" or ledger.has_pending():
                time.sleep(0.2)  # one pending update per client: wait until the last one is judged
                continue
            weights = fetch_weights(local_stack.bootstrap("platform"), latest.pointer, latest.content_hash)
            metadata = update_metadata(run.run_id, attacker.address.lower(), latest.version)
            pointer, _ = publish_weights(local_stack.bootstrap("platform"), topic, weights, metadata=metadata)
            claimed = weights_hash([w + len(submitted) + 1 for w in weights], metadata)
            try:
                ledger.submit_update(latest.version, claimed, pointer, 100)
            except LedgerError:  # the training finished meanwhile
                return
            submitted.append(claimed)

    def attacker_thread(run_holder: list) -> None:
        try:
            submit_tampered(run_holder)
        except BaseException as exc:  # re-raised in the test: a crashed attacker proves nothing
            crashed.append(exc)

    holder: list = []
    thread = threading.Thread(target=attacker_thread, args=(holder,), daemon=True)
    thread.start()
    # The honest client is slowed and the training long enough for the attacker, who notices
    # each verdict only at its own 0.2 s polls, to be judged more than EXCLUDE_AFTER times: with
    # waits that end on the chain's logs, 5 fast rounds could finish after its second verdict.
    options = RunOptions(clients=1, rounds=ROUNDS, mode="blockchain", stop_timeout_s=120, exclude_after=EXCLUDE_AFTER,
                         heterogeneity={1: Heterogeneity(slowdown=4.0)},
                         extra_clients={attacker.address: 600}, fault_point="aggregator.after_record")
    run = start_run(local_stack, make_workload("toy", 2, 1200, seed=7, mode="random-split"), options, tmp_path)
    holder.append(run)
    try:
        assert run.aggregator is not None and run.aggregator.wait(timeout_s=180) == FAULT_EXIT_CODE, \
            run.aggregator.log_tail()
        environment = {name: value for name, value in run.aggregator.environment.items()
                       if name != FAULT_POINT.name}
        before_restart = TrainingReader.open(local_stack.chain.address,
                                             run.announcement.blockchain.contract_address).history()
        run.aggregator = run.aggregator.again("aggregator-restarted", environment).start()
        final = wait_for_end(run, timeout_s=240)
    finally:
        stop.set()
        run.stop()
    thread.join(timeout=30)
    if crashed:
        raise crashed[0]
    assert final["versions"] == ROUNDS
    counted = [u for v in before_restart.versions for u in v.updates if u.client.lower() == attacker.address.lower()]
    assert 1 <= len(counted) < EXCLUDE_AFTER, f"{len(counted)} rejections before the restart: it proves nothing"
    audit = TrainingReader.open(local_stack.chain.address, run.announcement.blockchain.contract_address).history()
    verdicts = [u for v in audit.versions for u in v.updates if u.client.lower() == attacker.address.lower()]
    assert len(verdicts) > EXCLUDE_AFTER, f"only {len(verdicts)} of the attacker's updates were judged"
    assert [u.reason for u in verdicts[:EXCLUDE_AFTER]] == ["hash_mismatch"] * EXCLUDE_AFTER
    assert {u.reason for u in verdicts[EXCLUDE_AFTER:]} == {"excluded_client"}
    assert not any(u.accepted for u in verdicts) and audit.earned.get(attacker.address, 0) == 0
    honest = local_stack.account("client-1").address.lower()
    assert all(u.accepted for v in audit.versions for u in v.updates if u.client.lower() == honest)
    shown = [c for r in run.rounds_done() for c in r["contributions"] if c["client"].lower() == attacker.address.lower()]
    assert "excluded_client" in {c["reason"] for c in shown}  # what the API and the UI list per round
