"""The settings hash a training's contract is created with: what defines the training, hashed.

The platform (backend, or ``kafkaml train`` locally) creates the training on chain before the
aggregator job starts, with the job's environment in hand; the aggregator job recomputes the
hash from the environment it was launched with and refuses to aggregate a training created for
other settings. Both sides hash the same variables, as text, so neither has to interpret them
the same way: equal environments give equal hashes, and an auditor holding a deployment's
settings can check them against the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

#: The job variables that define a training (its model file is hashed by content).
HASHED_SETTINGS = (
    "COORDINATION", "FEDERATED_STRING_ID", "AGGREGATION_ROUNDS", "AGG_STRATEGY", "AGG_STRATEGY_PARAMS",
    "EPOCHS", "BATCH", "KWARGS_FIT", "KWARGS_VAL", "MIN_DATA", "DATA_RESTRICTION", "DATASOURCE_ID",
    "REWARD_POLICY", "REWARD_BASE", "REWARD_BUDGET", "REWARD_REJECT_RATIO", "REWARD_EXCLUDE_AFTER",
    "CLIENT_SAMPLE_CEILINGS",
    "SAMPLE_WEIGHTING",
)


def settings_hash(environ: Mapping[str, str], model: bytes) -> bytes:
    """SHA-256 of the defining variables of ``environ`` and the model file's bytes."""
    described = {"model_sha256": hashlib.sha256(model).hexdigest(),
                 "settings": {name: environ.get(name, "") for name in HASHED_SETTINGS}}
    return hashlib.sha256(json.dumps(described, sort_keys=True, separators=(",", ":")).encode()).digest()
