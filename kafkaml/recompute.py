"""Re-derive every global version of a training from the chain's record and Kafka's payloads.

The chain records, per version, the content hash of the new global weights and which updates
(each a submission: client, content hash and pointer, in queue order) it consumed and accepted;
the training's creation event records the strategy's canonical description. An update counts
once: a version that accepts a hash accepted before (a copy submitted by another client, or the
same update twice) is reported as well. Aggregation is deterministic (fixed order,
float32), so an auditor who fetches version v−1 and the accepted updates from Kafka, verifies
each against its recorded hash and applies the recorded strategy must obtain version v bit for
bit. The first version where that fails is reported: either the aggregator did not do what it
recorded, or the payloads in Kafka are not the recorded ones. The hash of a global version covers
its metadata too (:func:`kafkaml.weights.codec.version_metadata`: the training named by the genesis
payload, the platform, the previous version), so it is re-derived from the weights alone. The
genesis metadata also names the model's statistics positions, which the strategy is given as the
aggregator gave them. A server optimizer's state (:class:`kafkaml.strategies.ServerState`) is
replayed along: it starts from the genesis and each version's state is the one its recomputation
returns, so a version is only confirmed when the state the aggregator stepped from was the
recorded history's. Differential privacy's noise is seeded by the version number and the accepted
updates' recorded hashes (:func:`kafkaml.strategies.noise_seed`), so it is re-derived as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kafkaml.ledger.records import Audit, AuditedVersion
from kafkaml.strategies import Update, strategy_from_description
from kafkaml.weights.codec import (
    META_TRAINING,
    Decoded,
    WeightsError,
    statistics_positions,
    version_metadata,
    weights_hash,
)
from kafkaml.weights.transport import fetch_decoded

Fetch = Callable[..., Decoded]


@dataclass
class VersionCheck:
    version: int
    recorded: bytes
    recomputed: bytes | None
    updates: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass
class RecomputeReport:
    strategy: str
    checks: list[VersionCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def first_mismatch(self) -> VersionCheck | None:
        return next((check for check in self.checks if not check.ok), None)

    def to_json(self) -> dict:
        """The verdict as stored and shown (hashes as 0x hex): version by version."""
        mismatch = self.first_mismatch
        return {"ok": self.ok, "strategy": self.strategy,
                "first_mismatch": mismatch.version if mismatch else None,
                "checks": [{"version": c.version, "updates": c.updates, "recorded": "0x" + c.recorded.hex(),
                            "recomputed": "0x" + c.recomputed.hex() if c.recomputed else None, "ok": c.ok,
                            "problem": c.problem} for c in self.checks]}


def recompute(audit: Audit, bootstrap: str, fetch: Fetch = fetch_decoded) -> RecomputeReport:
    """Check every recorded version against its recomputation; stops at the first mismatch."""
    strategy = strategy_from_description(audit.training.strategy)
    report = RecomputeReport(strategy.description_json())
    versions = sorted(audit.versions, key=lambda v: v.version)
    if not versions:
        return report
    try:
        genesis = fetch(bootstrap, versions[0].pointer, versions[0].content_hash)
    except WeightsError as exc:
        report.checks.append(VersionCheck(versions[0].version, versions[0].content_hash, None, 0,
                                          f"the genesis weights cannot be fetched as recorded: {exc}"))
        return report
    weights = {versions[0].version: genesis.weights}
    # The server optimizers' moments, replayed from the genesis with the versions (None: stateless).
    states = {versions[0].version: strategy.initial_state(genesis.weights)}
    training = genesis.metadata.get(META_TRAINING)  # None: written before versions carried metadata
    try:
        statistics = statistics_positions(genesis.metadata)
    except WeightsError as exc:
        report.checks.append(VersionCheck(versions[0].version, versions[0].content_hash, None, 0,
                                          f"the genesis metadata is unusable: {exc}"))
        return report
    accepted: set[bytes] = set()
    for version in versions[1:]:
        check = _check(version, weights, states, strategy, bootstrap, fetch, training, accepted, statistics)
        report.checks.append(check)
        if not check.ok:
            break
    return report


def _check(version: AuditedVersion, weights: dict, states: dict, strategy, bootstrap: str, fetch: Fetch,
           training: str | None, accepted_before: set[bytes], statistics: tuple[int, ...]) -> VersionCheck:
    """Recompute ``version``; ``accepted_before``, the hashes earlier versions accepted, takes its own."""
    accepted = sorted((u for u in version.updates if u.accepted), key=lambda u: u.seq)
    check = VersionCheck(version.version, version.content_hash, None, len(accepted))
    previous = weights.get(version.version - 1)
    if previous is None:
        check.problem = f"version {version.version - 1} is missing from the record"
        return check
    for update in accepted:
        if update.content_hash in accepted_before:
            check.problem = (f"update {update.seq} (0x{update.content_hash.hex()[:16]}… from {update.client}) was "
                             "accepted before: one update counted twice")
            return check
        accepted_before.add(update.content_hash)
    try:
        updates = [
            Update(fetch(bootstrap, u.pointer, u.content_hash).weights, u.samples, u.base_version,
                   weights.get(u.base_version) if strategy.needs_base_weights else None, u.content_hash)
            for u in accepted
        ]
    except WeightsError as exc:
        check.problem = f"an accepted update of version {version.version} cannot be fetched as recorded: {exc}"
        return check
    try:
        result, state = strategy.step(previous, version.version - 1, updates, statistics, states[version.version - 1])
    except ValueError as exc:
        check.problem = f"the recorded updates cannot be aggregated with {strategy.name}: {exc}"
        return check
    metadata = None if training is None else version_metadata(training, version.version)
    check.recomputed = weights_hash(result, metadata)
    if check.recomputed != version.content_hash:
        check.problem = (f"recomputed hash {check.recomputed.hex()[:16]}… differs from the recorded "
                         f"{version.content_hash.hex()[:16]}…")
        return check
    weights[version.version], states[version.version] = result, state
    return check
