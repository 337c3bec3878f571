"""An aggregator job's training, created on chain for exactly that job's settings.

The platform backend (for a deployment) and ``kafkaml train`` (on the local stack) both create
trainings, and they must create the same one for the same job: the settings hash the job checks
at start, its weights topic, the strategy it aggregates with, its rounds and its reward budget
all come from the :class:`~kafkaml.jobs.contract.AggregatorJob` here, in one place. Funding the
aggregator account (:func:`kafkaml.ledger.gas.fund_aggregator`) stays the caller's step before
this one, so that a caller records what it funded even when the creation then fails.
"""

from __future__ import annotations

from kafkaml.jobs.contract import AggregatorJob
from kafkaml.rewards import DEFAULT_BASE, reward_budget
from kafkaml.strategies import make_strategy
from kafkaml.topics import weights_topic


def create_training(rpc_url: str, admin_key: str, job: AggregatorJob, model_description: bytes, *,
                    token_address: str, aggregator: str) -> str:
    """Create ``job``'s training through the platform's factory with ``admin_key``, aggregated by
    the account ``aggregator``; the training's contract address. ``model_description`` is the
    builder's JSON the job will read (the settings hash covers it)."""
    from kafkaml.ledger.factory import PlatformLedger  # web3: imported only by those who create trainings

    strategy = make_strategy(job.strategy.lower(), job.strategy_params)
    return PlatformLedger.create_training(
        rpc_url, admin_key, token_address=token_address, aggregator=aggregator,
        settings_hash=job.settings_hash(model_description), weights_topic=weights_topic(job.federated_id),
        strategy=strategy.description_json(), rounds=job.rounds,
        budget=reward_budget(job.reward_budget or "", job.reward_base or DEFAULT_BASE, job.rounds))
