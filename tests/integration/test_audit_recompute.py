"""``kafkaml audit --recompute`` confirms honest versions bit for bit and catches a doctored one."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kafkaml.ledger import AggregatorLedger, PlatformLedger, TrainerLedger, TrainingReader, UpdateOutcome
from kafkaml.local import stack as local
from kafkaml.local.accounts import new_account
from kafkaml.local.train import RunOptions, start_run, wait_for_end
from kafkaml.recompute import recompute
from kafkaml.strategies import STRATEGIES, Update, make_strategy, noise_seed
from kafkaml.topics import update_topic
from kafkaml.toydata import TOY_MODEL_SOURCE
from kafkaml.weights.codec import statistics_positions
from kafkaml.weights.transport import fetch_decoded, publish_weights
from kafkaml.workloads import make_workload
from tests.conftest import unique
from tests.integration.test_federated_training import history, train


def audit(stack: local.Stack, address: str) -> subprocess.CompletedProcess:
    platform = TrainingReader.open(stack.chain.address, address).platform()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kafkaml.cli",
            "audit",
            address,
            "--token",
            platform.token,
            "--factory",
            platform.factory,
            "--rpc-url",
            stack.chain.address,
            "--kafka",
            stack.bootstrap("platform"),
            "--recompute",
        ],
        env={**os.environ, "COLUMNS": "250", "ETH_BLOCKSCOUT_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def weights(value: float) -> list[np.ndarray]:
    return [np.full((4, 3), value, np.float32), np.arange(3, dtype=np.float32) * value]


def test_recompute_confirms_honest_versions_and_finds_the_doctored_one(
    local_stack: local.Stack, tmp_path: Path
) -> None:
    platform, client = local_stack.account("platform"), local_stack.account("client-1")
    bootstrap, rpc = local_stack.bootstrap("platform"), local_stack.chain.address
    strategy = make_strategy("mix")
    topic = unique("kml-weights-audit")
    token = PlatformLedger.deploy_token(rpc, platform.private_key())
    job = new_account(tmp_path / "aggregator.key")  # the training's own aggregator account
    PlatformLedger.fund(rpc, platform.private_key(), job.address, 10**18)
    address = PlatformLedger.create_training(
        rpc,
        platform.private_key(),
        token_address=token,
        aggregator=job.address,
        settings_hash=os.urandom(32),
        weights_topic=topic,
        strategy=strategy.description_json(),
        rounds=3,
        budget=100,
    )
    aggregator = AggregatorLedger.open(rpc, address, job.private_key())
    aggregator.register_clients({client.address: 1000})
    genesis = weights(1.0)
    pointer, content_hash = publish_weights(bootstrap, topic, genesis)
    aggregator.start(content_hash, pointer, hashlib.sha256(b"announcement").digest())
    trainer = TrainerLedger.open(rpc, aggregator.address, client.private_key())

    def submit(update: list[np.ndarray], base: int) -> bytes:
        update_pointer, update_hash = publish_weights(bootstrap, update_topic(topic, client.address), update)
        trainer.submit_update(base, update_hash, update_pointer, 50)
        return update_hash

    first = submit(weights(3.0), 0)
    honest = strategy.aggregate(genesis, 0, [Update(weights(3.0), 50, 0)])
    pointer, content_hash = publish_weights(bootstrap, topic, honest)
    aggregator.record_round(content_hash, pointer, [UpdateOutcome(first, True, 10)])

    result = audit(local_stack, aggregator.address)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 1 versions recomputed bit for bit" in result.stdout

    second = submit(weights(5.0), 1)
    doctored = weights(5.0)  # the update itself, not what the recorded strategy (mix) gives
    pointer, content_hash = publish_weights(bootstrap, topic, doctored)
    aggregator.record_round(content_hash, pointer, [UpdateOutcome(second, True, 10)])

    result = audit(local_stack, aggregator.address)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "first mismatch at version 2" in result.stdout


def test_recompute_reports_an_update_counted_twice(local_stack: local.Stack, tmp_path: Path) -> None:
    """An aggregator that accepts a copy of an accepted update (same hash, another client's topic)
    recomputes bit for bit, yet counts one update twice: the audit says so."""
    platform = local_stack.account("platform")
    owner, copier = local_stack.account("client-1"), local_stack.account("client-2")
    bootstrap, rpc = local_stack.bootstrap("platform"), local_stack.chain.address
    strategy = make_strategy("fedasync")
    topic = unique("kml-weights-audit")
    job = new_account(tmp_path / "aggregator.key")
    PlatformLedger.fund(rpc, platform.private_key(), job.address, 10**18)
    address = PlatformLedger.create_training(
        rpc, platform.private_key(), token_address=PlatformLedger.deploy_token(rpc, platform.private_key()),
        aggregator=job.address, settings_hash=os.urandom(32), weights_topic=topic,
        strategy=strategy.description_json(), rounds=3, budget=100,
    )
    aggregator = AggregatorLedger.open(rpc, address, job.private_key())
    aggregator.register_clients({owner.address: 1000, copier.address: 1000})
    versions = [weights(1.0)]
    pointer, content_hash = publish_weights(bootstrap, topic, versions[0])
    aggregator.start(content_hash, pointer, hashlib.sha256(b"announcement").digest())
    update = weights(3.0)
    for number, account in enumerate((owner, copier), start=1):
        update_pointer, update_hash = publish_weights(bootstrap, update_topic(topic, account.address), update)
        TrainerLedger.open(rpc, address, account.private_key()).submit_update(number - 1, update_hash, update_pointer, 50)
        versions.append(strategy.aggregate(versions[-1], number - 1, [Update(update, 50, number - 1)]))
        pointer, content_hash = publish_weights(bootstrap, topic, versions[-1])
        aggregator.record_round(content_hash, pointer, [UpdateOutcome(update_hash, True, 10)])

    report = recompute(aggregator.history(), bootstrap)
    assert [check.ok for check in report.checks] == [True, False]
    assert "accepted before: one update counted twice" in report.first_mismatch.problem
    assert report.first_mismatch.version == 2


#: fedasync, the default, is recomputed after a real training in test_federated_training.py.
OTHER_STRATEGIES = [name for name in STRATEGIES if name != "fedasync"]
#: Krum needs K > 2f + 2 updates per round: three clients, f = 0 (one nearest neighbour each).
KRUM_PARAMS = {"krum": {"updates": 3, "f": 0}, "multi_krum": {"updates": 3, "f": 0, "m": 2}}


@pytest.mark.parametrize("name", OTHER_STRATEGIES)
def test_a_real_training_recomputes_bit_for_bit_with_every_strategy(local_stack: local.Stack, tmp_path: Path,
                                                                    name: str) -> None:
    """Two clients, two rounds on the toy workload; a buffered strategy aggregates both clients'
    updates in each round (K = 2), so its rule (average, median, trimmed mean, FedBuff's
    discounted deltas from each update's base weights, a server optimizer's step with the moments
    carried from round 1 to round 2) really combines several updates. Krum and Multi-Krum rank
    three clients' updates."""
    params = KRUM_PARAMS.get(name) or ({"updates": 2} if make_strategy(name).updates_per_round > 1 else {})
    strategy = make_strategy(name, params)
    run, final = train(local_stack, tmp_path, mode="blockchain", rounds=2, strategy=name, strategy_params=params,
                       clients=max(2, strategy.updates_per_round))
    assert final["versions"] == 2
    report = recompute(history(local_stack, run), local_stack.bootstrap("platform"))
    assert report.strategy == strategy.description_json()
    assert report.ok and len(report.checks) == 2, report.first_mismatch
    assert [check.updates for check in report.checks] == [strategy.updates_per_round] * 2


#: The toy network with batch normalisation on inputs scaled far below unit variance, so a local
#: epoch moves the moving variance from 1 to nearly 0 (momentum 0.5): what broke FedBuff's model.
BATCH_NORMALISED_TOY = TOY_MODEL_SOURCE.replace(
    "    keras.layers.Dense(16", "    keras.layers.Rescaling(0.01),\n    keras.layers.BatchNormalization(momentum=0.5),\n"
    "    keras.layers.Dense(16")


def test_fedbuff_with_batch_normalisation_keeps_a_finite_model_and_recomputes(local_stack: local.Stack,
                                                                               tmp_path: Path) -> None:
    """The aggregator records the statistics positions in the genesis metadata and aggregates them
    as FedBuff's rule says; the audit reads them there and re-derives every version bit for bit."""
    assert BATCH_NORMALISED_TOY != TOY_MODEL_SOURCE
    workload = replace(make_workload("toy", 2, 1200, seed=7, mode="random-split"), model_source=BATCH_NORMALISED_TOY)
    # Screening is not what is tested: near-perfect versions make honest updates measure worse.
    options = RunOptions(clients=2, rounds=3, strategy="fedbuff", strategy_params={"updates": 2},
                         reject_ratio=1000.0, stop_timeout_s=120.0)
    run = start_run(local_stack, workload, options, tmp_path)
    try:
        final = wait_for_end(run, timeout_s=240)
    finally:
        run.stop()
    assert final["versions"] == 3
    assert all(math.isfinite(r["val_loss"]) for r in run.rounds_done())
    audit = history(local_stack, run)
    genesis = fetch_decoded(local_stack.bootstrap("platform"), audit.versions[0].pointer, audit.versions[0].content_hash)
    assert statistics_positions(genesis.metadata) == (2, 3)  # after gamma and beta
    report = recompute(audit, local_stack.bootstrap("platform"))
    assert report.ok and len(report.checks) == 3, report.first_mismatch


#: Central differential privacy on the two kinds of rule that take it: noise big enough to matter
#: (σ·S/K = 0.05 per coordinate) and a clip below the toy model's moves, so both bite.
DP_CASES = {"fedavg": {"updates": 2, "dp_clip": 0.1, "dp_noise_multiplier": 1.0},
            "fedadam": {"updates": 2, "dp_clip": 0.1, "dp_noise_multiplier": 1.0, "dp_delta": 1e-6}}


@pytest.mark.parametrize("name", DP_CASES)
def test_a_real_training_with_differential_privacy_recomputes_bit_for_bit(local_stack: local.Stack, tmp_path: Path,
                                                                          name: str) -> None:
    """The aggregator clips and noises the rounds with the seed of the recorded update hashes; the
    audit, from the chain and Kafka alone, draws the same noise and confirms every version. Each
    round's report carries ε at δ, growing from round to round as the accountant composes them."""
    params = DP_CASES[name]
    strategy = make_strategy(name, params)
    # Screening is not what is tested: a noised version may measure worse than the update it came from.
    run, final = train(local_stack, tmp_path, mode="blockchain", rounds=2, strategy=name, strategy_params=params,
                       reject_ratio=1000.0)
    assert final["versions"] == 2
    report = recompute(history(local_stack, run), local_stack.bootstrap("platform"))
    assert report.strategy == strategy.description_json() and '"dp_clip":0.1' in report.strategy
    assert report.ok and len(report.checks) == 2, report.first_mismatch
    cli = audit(local_stack, run.announcement.blockchain.contract_address)  # what a user runs
    assert cli.returncode == 0 and "all 2 versions recomputed bit for bit" in cli.stdout, cli.stdout + cli.stderr
    privacy = [r["privacy"] for r in run.rounds_done()]
    assert [p["rounds"] for p in privacy] == [1, 2]
    assert [p["delta"] for p in privacy] == [strategy.dp.delta] * 2
    assert privacy[0]["noise_std"] == pytest.approx(0.05)
    assert 0 < privacy[0]["epsilon"] < privacy[1]["epsilon"]
    accepted = [[bytes.fromhex(c["sha256"]) for c in r["contributions"] if c["accepted"]] for r in run.rounds_done()]
    assert [p["seed"] for p in privacy] == [noise_seed(v, hashes).hex() for v, hashes in enumerate(accepted, start=1)]
