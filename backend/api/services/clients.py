"""The clients seen in a user's trainings: which trainings named them, what their updates earned
there, and their token balance read from the chain now.

Built from what the platform already stores (each deployment's named clients with their sample
ceilings, each round's screened updates), so the page costs one pass over the rounds and, in
blockchain mode, one ``balanceOf`` call per client.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from backend.api import selectors
from backend.api.environment import platform_settings
from backend.api.models import RoundRecord


def _participations(user) -> dict[str, dict[int, dict[str, Any]]]:
    """client → result id → that client's participation in it (named or seen in a round)."""
    clients: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    results = selectors.results_of(user).select_related(None).values(
        "id", "status", "ml_model__name", "contract_address", "deployment__clients")
    for row in results:
        for client, ceiling in (row["deployment__clients"] or {}).items():
            clients[client][row["id"]] = _participation(row, ceiling)
    rows = {row["id"]: row for row in results}
    for result_id, contributions in RoundRecord.objects.filter(result_id__in=rows).values_list(
            "result_id", "contributions"):
        for contribution in contributions:
            entry = clients[contribution["client"]].setdefault(
                result_id, _participation(rows[result_id], None))
            entry["accepted" if contribution["accepted"] else "rejected"] += 1
            entry["earned"] += int(contribution.get("reward", "0"))
    return clients


def _participation(row: dict[str, Any], ceiling: int | None) -> dict[str, Any]:
    return {"result": row["id"], "model_name": row["ml_model__name"], "status": row["status"],
            "sample_ceiling": ceiling, "accepted": 0, "rejected": 0, "earned": 0,
            "contract_address": row["contract_address"]}


def _balances(clients: list[str], contracts: list[str]) -> tuple[dict[str, int] | None, str]:
    """Token balances (the platform's one token, reached through any of the trainings' contracts),
    or ``None`` and why when the chain cannot be read."""
    site = platform_settings()
    if not clients or not contracts or not site.rpc_url:
        return None, ""
    from kafkaml.ledger import LedgerError
    from kafkaml.ledger.reader import TrainingReader

    try:
        ledger = TrainingReader.open(site.rpc_url, contracts[0])
        return {client: ledger.token_balance(client) for client in clients}, ""
    except (LedgerError, ValueError) as exc:
        return None, f"the chain cannot be read: {exc}"


def client_list(*, user) -> dict[str, Any]:
    participations = _participations(user)
    contracts = sorted({p["contract_address"] for entries in participations.values()
                        for p in entries.values() if p["contract_address"]})
    balances, chain_error = _balances(sorted(participations), contracts)
    rows = []
    for client, entries in sorted(participations.items()):
        trainings = sorted(entries.values(), key=lambda p: -p["result"])
        rows.append({
            "client": client, "trainings": [{**p, "earned": str(p["earned"])} for p in trainings],
            "accepted": sum(p["accepted"] for p in trainings), "rejected": sum(p["rejected"] for p in trainings),
            "earned": str(sum(p["earned"] for p in trainings)),
            "balance": str(balances[client]) if balances is not None else None,
        })
    return {"clients": rows, "chain_error": chain_error}
