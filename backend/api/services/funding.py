"""A training's aggregator account: funded for the gas its training can spend, swept back after.

The backend creates the account (a fresh key per training), keeps its key only in the job's
Secret (written before any ether is sent to it) and funds it from the admin account with
:func:`kafkaml.ledger.gas.fund_aggregator` — the most the training's rounds can cost by the
measured figures, times AGGREGATOR_GAS_MARGIN, at the node's fee cap now — instead of a flat sum.

The backend, not the job, sweeps what is left back to the admin, because only the backend is
sure to be there when the job is over, however it ended: when the aggregator's final report
arrives (its last transaction is mined by then), when a user stops the training (the job is
killed first), when the job is found failed for good, and when a launch fails half-way. It reads
the key back from the Secret it wrote. A sweep that fails (the chain is down) is logged and
tried again before the result is deleted, and the deletion waits for it: the Secret holds the
only copy of the key.
"""

from __future__ import annotations

import logging

from backend.api.environment import PlatformSettings
from backend.api.models import PlatformChain, TrainingResult
from backend.api.services import jobs
from kafkaml.ledger import LedgerError
from kafkaml.services.api import Unavailable

log = logging.getLogger(__name__)


def sweep(*, result: TrainingResult, site: PlatformSettings) -> int | None:
    """Return what the result's aggregator account holds to the platform admin; the wei sent
    (None: the result has no aggregator account, or its key is gone). Raises Unavailable when
    the chain or the launcher cannot do it now."""
    if not result.aggregator_address:
        return None
    from kafkaml.ledger.factory import PlatformLedger

    try:
        key = jobs.launcher().read_secret(jobs.secret_name(result), jobs.WALLET_KEY)
    except jobs.JobError as exc:
        raise Unavailable(f"the aggregator's key cannot be read: {exc}") from None
    admin = PlatformChain.objects.filter(chain_id=site.chain_id).values_list("admin", flat=True).first()
    if key is None or admin is None:
        return None
    try:
        swept = PlatformLedger.sweep(site.rpc_url, key.decode().strip(), admin)
    except LedgerError as exc:
        raise Unavailable(f"the aggregator account {result.aggregator_address} cannot be swept: {exc}") from None
    log.info("training result %s: %d wei of its aggregator account %s returned to %s", result.pk, swept,
             result.aggregator_address, admin)
    return swept


def sweep_or_log(*, result: TrainingResult, site: PlatformSettings) -> None:
    """:func:`sweep` where the caller goes on whatever happens (it is tried again before deletion)."""
    try:
        sweep(result=result, site=site)
    except Unavailable as exc:
        log.warning("training result %s: %s; it is tried again before the result is deleted", result.pk,
                    exc.detail)
