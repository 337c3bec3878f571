"""A verdict belongs to one submission (client, hash, pointer): a copied hash earns nothing and harms no one.

Real trainings (aggregator job, Tansu, Anvil, TensorFlow on the toy workload) with no trainer
jobs: the test plays the clients, so that it decides the queue's order. Client A trains a real
update; client B submits A's content hash, either with a copy of A's payload in its own topic
(to be paid for A's work and count A twice) or with junk (to have A's genuine update inherit its
rejection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kafkaml.ledger import TrainerLedger, TrainingReader
from kafkaml.local import stack as local
from kafkaml.local.train import Run, RunOptions, start_run, wait_for_end
from kafkaml.pointers import WeightsPointer
from kafkaml.recompute import recompute
from kafkaml.topics import update_topic
from kafkaml.weights.codec import update_metadata
from kafkaml.weights.transport import fetch_weights, publish_weights
from kafkaml.workloads import Workload, make_workload
from training_worker.announcement import rebuild_model
from training_worker.coordination.base import ClientCoordinator
from training_worker.coordination.chain import ChainClient
from training_worker.coordination.classic import ClassicClient, ClassicCoordination

ROLES = ("client-1", "client-2", "client-3")  # A, B (the copier) and C


@dataclass
class Site:
    """A client the test plays: what the queue records it as, and its coordinator."""

    identity: str
    coordinator: ClientCoordinator


def start(stack: local.Stack, tmp_path: Path, mode: str, strategy: str, params: dict) -> tuple[Run, Workload]:
    """A one-round training registering three clients and running none of their trainers."""
    identities = [stack.account(role).address if mode == "blockchain" else role for role in ROLES]
    options = RunOptions(clients=0, rounds=1, mode=mode, strategy=strategy, strategy_params=params,
                         stop_timeout_s=60, extra_clients=dict.fromkeys(identities, 600))
    workload = make_workload("toy", len(ROLES), 1200, seed=7, mode="random-split")
    return start_run(stack, workload, options, tmp_path), workload


def sites(stack: local.Stack, run: Run) -> list[Site]:
    assert run.announcement is not None
    if run.options.mode == "blockchain":
        assert run.contract_address
        return [Site(stack.account(role).address.lower(),
                     ChainClient(TrainerLedger.open(stack.chain.address, run.contract_address,
                                             stack.account(role).private_key()))) for role in ROLES]
    return [Site(role, ClassicClient(ClassicCoordination(stack.bootstrap("platform"), run.announcement.control_topic,
                                                         run.run_id, role))) for role in ROLES]


def own_topic(run: Run, site: Site) -> str:
    assert run.announcement is not None
    return update_topic(run.announcement.training["weights_topic"], site.identity)


def trained_update(stack: local.Stack, run: Run, workload: Workload, site: Site, index: int) -> list[np.ndarray]:
    """The update an honest client computes: the announced model, fitted on its data from version 0."""
    assert run.announcement is not None
    genesis = site.coordinator.latest()
    assert genesis is not None and genesis.number == 0
    model = rebuild_model(run.announcement)
    model.set_weights(fetch_weights(stack.bootstrap("platform"), genesis.pointer, genesis.content_hash))
    share = workload.clients[index]
    model.fit(share.x, share.y, epochs=1, batch_size=32, verbose=0)
    return model.get_weights()


def publish(stack: local.Stack, run: Run, site: Site, weights: list[np.ndarray], named: Site) -> tuple[WeightsPointer, bytes]:
    """``weights`` in ``site``'s own update topic, the payload naming ``named`` as its sender."""
    return publish_weights(stack.bootstrap("platform"), own_topic(run, site), weights,
                           metadata=update_metadata(run.run_id, named.identity, 0))


def contributions(run: Run) -> list[dict]:
    [round_one] = run.rounds_done()
    return round_one["contributions"]


@pytest.mark.parametrize("mode", ["blockchain", "classic"])
def test_a_copied_hash_counts_once_and_earns_nothing(local_stack: local.Stack, tmp_path: Path, mode: str) -> None:
    """FedAvg over K=2: queue [A(H, real), B(H, A's payload in B's topic), C(real)]. B is rejected as a
    duplicate with no reward; the version averages A and C once each, and recomputes bit for bit."""
    run, workload = start(local_stack, tmp_path, mode, "fedavg", {"updates": 2})
    try:
        a, b, c = sites(local_stack, run)
        update = trained_update(local_stack, run, workload, a, 0)
        queue = [(a, *publish(local_stack, run, a, update, named=a)),
                 (b, *publish(local_stack, run, b, update, named=a)),  # byte for byte A's payload
                 (c, *publish(local_stack, run, c, trained_update(local_stack, run, workload, c, 2), named=c))]
        assert queue[0][2] == queue[1][2]
        for site, pointer, content_hash in queue:
            site.coordinator.submit(0, content_hash, pointer, 600)
        final = wait_for_end(run, timeout_s=180)
    finally:
        run.stop()
    assert final["versions"] == 1
    verdicts = {item["client"].lower(): item for item in contributions(run)}
    assert list(verdicts) == [a.identity, b.identity, c.identity]  # queue order
    assert verdicts[b.identity]["reason"] == "duplicate_update" and verdicts[b.identity]["reward"] == "0"
    assert verdicts[a.identity]["accepted"] and verdicts[c.identity]["accepted"]
    assert {client.lower(): int(amount) for client, amount in final["rewards"].items()}.get(b.identity, 0) == 0
    if mode == "blockchain":
        audit = TrainingReader.open(local_stack.chain.address, run.contract_address).history()
        [copied] = [u for u in audit.versions[1].updates if u.client.lower() == b.identity]
        assert (copied.accepted, copied.reason, copied.reward) == (False, "duplicate_update", 0)
        assert sum(u.accepted for u in audit.versions[1].updates) == 2
        assert audit.earned.get(local_stack.account("client-2").address, 0) == 0
        report = recompute(audit, local_stack.bootstrap("platform"))
        assert report.ok and len(report.checks) == 1, report.first_mismatch


@pytest.mark.parametrize("mode", ["blockchain", "classic"])
def test_junk_under_a_copied_hash_does_not_reject_the_genuine_update(local_stack: local.Stack, tmp_path: Path,
                                                                     mode: str) -> None:
    """FedAsync: B front-runs A's hash with junk in its own topic; B's submission is rejected, A's is
    screened on its own and accepted (before, it inherited B's verdict and the training stalled)."""
    run, workload = start(local_stack, tmp_path, mode, "fedasync", {})
    try:
        a, b, _ = sites(local_stack, run)
        update = trained_update(local_stack, run, workload, a, 0)
        pointer, content_hash = publish(local_stack, run, a, update, named=a)
        junk_pointer, _ = publish(local_stack, run, b, [np.full_like(w, 7.0) for w in update], named=b)
        b.coordinator.submit(0, content_hash, junk_pointer, 600)
        a.coordinator.submit(0, content_hash, pointer, 600)
        final = wait_for_end(run, timeout_s=180)
    finally:
        run.stop()
    assert final["versions"] == 1
    verdicts = [(item["client"].lower(), item["accepted"], item["reason"]) for item in contributions(run)]
    assert verdicts == [(b.identity, False, "hash_mismatch"), (a.identity, True, "")]
    if mode == "blockchain":
        audit = TrainingReader.open(local_stack.chain.address, run.contract_address).history()
        assert [(u.client.lower(), u.accepted) for u in audit.versions[1].updates] == [(b.identity, False),
                                                                                       (a.identity, True)]
        report = recompute(audit, local_stack.bootstrap("platform"))
        assert report.ok and len(report.checks) == 1, report.first_mismatch
