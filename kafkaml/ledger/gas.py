"""What a training's aggregator account can spend on gas: what the platform funds it with.

The figures are the receipts ``benchmarks/ledger_gas.py`` measured on Anvil and on Hardhat's
node alike (docs/ledger.md, "Gas"; re-measured on Anvil with ``recordRejections``), taken at
their dearest: a round is bounded by the first 1-update ``recordRound`` of a training (it writes
fresh storage slots: 65,070 gas; later ones cost 47,982) plus, for each further update it
consumes, what the 4-update round cost above the median 1-update round ((91,028 − 47,982) / 3,
rounded up). A round consumes at most one update per registered client
(each has at most one pending on chain), so a training's rounds cost at most ``rounds`` times a
round that consumes every client's update. Before a round, the aggregator may record the
rejected updates at the queue's head without a version (``recordRejections``: 39,901 gas for
one, and the same increment per further update); it does so only when every registered client
has an update queued, so the bound counts one such call per round, consuming every client's.
Around them the aggregator registers the clients, starts, finishes, pays out in batches and
finally its remainder is swept back (a transfer).
Strategies and rejections only change how many of those updates a round consumes, never past
that bound. The platform multiplies this by a margin (AGGREGATOR_GAS_MARGIN) for what the
measurements leave out (a transaction that reverts, a resumed step) and prices it at the fee
cap of a transaction sent now, which already leaves room for the base fee to double.
"""

from __future__ import annotations

import math

from kafkaml.ledger.aggregator import PAYOUT_BATCH  # clients per payRewards transaction
from kafkaml.ledger.factory import PlatformLedger

TRANSACTION = 21_000  # what every transaction pays before it does anything
START = 33_792
FINISH = 30_922
REGISTER_PER_CLIENT = 26_693  # (register 4 clients: 127,772 − TRANSACTION) / 4
PAYOUT_PER_CLIENT = 40_909  # (payout to 4 clients: 184,633 − TRANSACTION) / 4
ROUND_FIRST_UPDATE = 65_070
ROUND_PER_MORE_UPDATE = 14_349
REJECTIONS_FIRST_UPDATE = 39_901
SWEEP = TRANSACTION
#: The margin a training's aggregator is funded with unless the platform says otherwise
#: (AGGREGATOR_GAS_MARGIN); ``kafkaml train`` uses it as it is.
DEFAULT_MARGIN = 2.0


def aggregator_gas(rounds: int, clients: int) -> int:
    """The most gas the aggregator of a training of ``rounds`` rounds and ``clients`` clients
    spends, by the measured figures (no margin)."""
    per_round = ROUND_FIRST_UPDATE + REJECTIONS_FIRST_UPDATE + 2 * ROUND_PER_MORE_UPDATE * max(clients - 1, 0)
    payouts = max(math.ceil(clients / PAYOUT_BATCH), 1)
    return (START + FINISH + SWEEP + TRANSACTION * (1 + payouts)
            + (REGISTER_PER_CLIENT + PAYOUT_PER_CLIENT) * clients + rounds * per_round)


def aggregator_funding(rounds: int, clients: int, *, fee_cap_wei: int, margin: float) -> int:
    """The wei a training's aggregator account is funded with: its most gas, times ``margin``,
    at ``fee_cap_wei`` per gas."""
    return math.ceil(aggregator_gas(rounds, clients) * margin) * fee_cap_wei


def fund_aggregator(rpc_url: str, funder_key: str, address: str, *, rounds: int, clients: int,
                    margin: float = DEFAULT_MARGIN) -> int:
    """Send a training's aggregator account its gas money (:func:`aggregator_funding` at the
    node's fee cap now) from ``funder_key``; the wei sent. The backend and ``kafkaml train`` both
    fund this way, and both sweep the rest back when the training is over."""
    wei = aggregator_funding(rounds, clients, fee_cap_wei=PlatformLedger.fee_cap(rpc_url), margin=margin)
    PlatformLedger.fund(rpc_url, funder_key, address, wei)
    return wei
