"""The platform's contracts: deployed once per chain with the admin key, then only looked up.

The addresses are kept in the database (``PlatformChain``), so a restarted backend never
redeploys the token (the earlier Kafka-ML did, at every start). Nothing here runs at start-up:
a backend whose chain is down starts, reports the chain as down and refuses blockchain
deployments with a 503 until it is back.
"""

from __future__ import annotations

import logging

from django.db import transaction

from backend.api.environment import PlatformSettings, platform_settings
from backend.api.models import PlatformChain
from kafkaml.chain_node import chain_id_of
from kafkaml.config import ConfigError, read_secret
from kafkaml.ledger import LedgerError
from kafkaml.services.api import Unavailable
from kafkaml.services.reconciler import exclusive

log = logging.getLogger(__name__)


def admin_key(settings: PlatformSettings) -> str:
    if settings.admin_key_file is None:
        raise Unavailable("ETH_ADMIN_KEY_FILE is not set: this platform cannot create blockchain trainings")
    try:
        return read_secret("ETH_ADMIN_KEY", {"ETH_ADMIN_KEY_FILE": str(settings.admin_key_file)})
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None


def chain_status() -> dict:
    """What the UI and `local status` show: configured, reachable, chain id, contracts."""
    settings = platform_settings()
    if not settings.rpc_url:
        return {"configured": False, "reachable": False}
    chain_id = chain_id_of(settings.rpc_url, timeout_s=2.0)
    contracts = PlatformChain.objects.filter(chain_id=chain_id).first() if chain_id else None
    return {"configured": True, "reachable": chain_id is not None, "chain_id": chain_id,
            "factory": contracts.factory if contracts else None, "token": contracts.token if contracts else None,
            "blockscout_url": settings.blockscout_url or None}


@transaction.atomic
def platform_contracts() -> PlatformChain:
    """The platform's factory and token on the configured chain, deploying them the first time.

    The first deployments may arrive at once, in several processes: they take turns (an advisory
    lock held until this transaction ends; a row lock cannot guard a row that does not exist yet),
    so the contracts are deployed once and the others find them."""
    settings = platform_settings()
    if not settings.rpc_url or settings.chain_id is None:
        raise Unavailable("ETH_RPC_URL and ETH_CHAIN_ID are not set: blockchain trainings are unavailable")
    exclusive("platform.contracts")
    existing = PlatformChain.objects.filter(chain_id=settings.chain_id).first()
    if existing is not None:
        return existing
    from kafkaml.ledger.factory import PlatformLedger
    from kafkaml.ledger.transactions import load_account

    key = admin_key(settings)
    try:
        token = PlatformLedger.deploy_token(settings.rpc_url, key)
        factory = PlatformLedger.factory_of(settings.rpc_url, token)
    except LedgerError as exc:
        raise Unavailable(f"the chain at {settings.rpc_url} cannot deploy the platform: {exc}") from None
    log.info("deployed the platform's contracts on chain %s: factory %s, token %s", settings.chain_id, factory, token)
    return PlatformChain.objects.create(chain_id=settings.chain_id, factory=factory, token=token,
                                        admin=load_account(key).address)
