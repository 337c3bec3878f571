"""The platform's contracts as their admin drives them: deploy the platform once, create each
training through its factory, fund and empty job accounts.

:meth:`PlatformLedger.create_training` is idempotent per aggregator account: it finds the
training the factory created for that account, so a crash between creating and storing the
address creates nothing twice.
"""

from __future__ import annotations

import logging

from web3 import Web3
from web3.logs import DISCARD

from kafkaml.ledger import contracts, errors, transactions
from kafkaml.ledger.contracts import (
    artifact,
    deploy_contract,
    factory_contract,
    signer,
    trainings_of,
)
from kafkaml.ledger.reader import TrainingReader
from kafkaml.ledger.records import MAX_BUDGET
from kafkaml.ledger.transactions import Rpc
from kafkaml.pointers import check_hash

log = logging.getLogger(__name__)


class PlatformLedger:
    """The platform admin's operations (each takes the node's address and, to send, a key)."""

    @staticmethod
    def factory_of(rpc_url: str, token_address: str) -> str:
        """The TrainingFactory behind a platform's reward token; LedgerError if there is none."""
        return contracts.factory_of(Rpc(rpc_url), token_address)

    @staticmethod
    def deploy_token(rpc_url: str, key: str | None = None) -> str:
        """Deploy the platform (once): its TrainingFactory, which creates the RewardToken and the
        FederatedLearning implementation; returns the token's address, through which
        :meth:`create_training` finds the factory. The key's account becomes the platform admin."""
        rpc = Rpc(rpc_url)
        sender = signer(rpc, key)
        factory = deploy_contract(sender, artifact("TrainingFactory"), [], "deploy the platform")
        token = rpc(lambda: factory_contract(rpc, factory).functions.token().call())
        log.info(
            "deployed the platform: factory %s, RewardToken %s (admin %s)", factory, token, sender.address
        )
        return Web3.to_checksum_address(token)

    @staticmethod
    def create_training(
        rpc_url: str,
        key: str | None = None,
        *,
        token_address: str,
        aggregator: str,
        settings_hash: bytes,
        weights_topic: str,
        strategy: str,
        rounds: int,
        budget: int,
    ) -> str:
        """Create a training through the platform's factory, in one transaction, as the platform
        admin (``key``); returns its address. ``aggregator`` is the account of its own that will
        aggregate it (never the admin); ``budget`` bounds what it can ever credit.

        Idempotent per aggregator account: when the factory already created a training for
        ``aggregator`` (e.g. before a crash that lost its address), that training is returned.
        """
        if not weights_topic or not strategy or not 0 < rounds < 2**32:
            raise ValueError("weights_topic and strategy must be non-empty and rounds in 1..2^32-1")
        if not 0 <= budget <= MAX_BUDGET:
            raise ValueError(f"a reward budget is between 0 and {MAX_BUDGET} base units, not {budget}")
        rpc = Rpc(rpc_url)
        sender = signer(rpc, key)
        factory = factory_contract(rpc, contracts.factory_of(rpc, token_address))
        aggregator = Web3.to_checksum_address(aggregator)
        existing = trainings_of(rpc, factory, aggregator)
        if existing:
            info = TrainingReader(rpc, existing[-1]).info()
            wanted = (check_hash(settings_hash), weights_topic, strategy, rounds, budget)
            if (info.settings_hash, info.weights_topic, info.strategy, info.rounds, info.budget) != wanted:
                raise errors.LedgerError(f"the factory created training {existing[-1]} for aggregator {aggregator} "
                                         "with other parameters: an aggregator account serves one training")
            log.info("the factory already created training %s for aggregator %s", existing[-1], aggregator)
            return existing[-1]
        receipt = sender.transact(
            {
                "to": factory.address,
                "data": factory.encode_abi(
                    "createTraining",
                    args=[aggregator, check_hash(settings_hash), weights_topic, strategy, rounds, budget],
                ),
            },
            "create a training",
        )
        created = factory.events.TrainingCreated().process_receipt(receipt, errors=DISCARD)
        address = Web3.to_checksum_address(created[0]["args"]["training"])
        log.info("created training %s (aggregator %s, %d rounds, strategy %s, budget %d)",
                 address, aggregator, rounds, strategy, budget)
        return address

    @staticmethod
    def fund(rpc_url: str, key: str | None, address: str, wei: int) -> None:
        """Send ``wei`` from the key's account to ``address`` (gas money for a job's own account)."""
        sender = signer(Rpc(rpc_url), key)
        sender.transact({"to": Web3.to_checksum_address(address), "value": wei, "data": b""},
                        f"fund {address}")

    @staticmethod
    def sweep(rpc_url: str, key: str, to: str) -> int:
        """Send everything the key's account holds, less the transfer's own fee, to ``to`` (what a
        training's aggregator account returns to the platform); the wei sent, 0 when nothing is left."""
        return signer(Rpc(rpc_url), key).sweep(Web3.to_checksum_address(to))

    @staticmethod
    def fee_cap(rpc_url: str) -> int:
        """The most wei per gas a transaction sent now may pay (what the node's fees ask, with the
        room for the base fee to double that every sender here leaves)."""
        return transactions.fee_cap(transactions.current_fees(Rpc(rpc_url)))
