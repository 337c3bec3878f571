"""The audit job (``python -m training_worker.audit_job``): re-derive a training from the chain
and Kafka, and report the verdict to the platform backend.

It is ``kafkaml audit --recompute`` as a Kubernetes Job (or a local process) the backend starts
for a training result: it reads the training's events from ETH_RPC_URL (checking that the
platform's factory, ETH_FACTORY_ADDRESS, created it for the platform's token, ETH_TOKEN_ADDRESS),
recomputes every global version from the recorded updates in
the platform Kafka, and POSTs the version-by-version verdict to ``<RESULT_URL>audits/<AUDIT_ID>/``
with the audit's own job token (good for this verdict only). It holds no key: an audit only reads. Exit 0 when every version was
recomputed bit for bit, 1 on the first mismatch, 2 when it could not run.
"""

from __future__ import annotations

import logging
import sys

import requests

from kafkaml.config import ConfigError, Setting, declare, read_secret
from kafkaml.ledger import LedgerError, TrainingReader
from kafkaml.logs import configure as configure_logging
from kafkaml.recompute import recompute

log = logging.getLogger("training_worker.audit_job")

AUDIT = declare(
    "Audit job",
    Setting("ETH_RPC_URL", "JSON-RPC URL of the Ethereum node."),
    Setting("ETH_CONTRACT_ADDRESS", "The training's contract."),
    Setting("ETH_FACTORY_ADDRESS", "The platform's TrainingFactory: the training must be one it created."),
    Setting("ETH_TOKEN_ADDRESS", "The platform's RewardToken: the training must pay in it."),
    Setting("BOOTSTRAP_SERVERS", "Kafka bootstrap of the platform: where the weights are."),
    Setting("RESULT_URL", "The backend's URL of the training result the audit reports to."),
    Setting("RESULT_TOKEN_FILE", "File holding this audit's job token (a mounted Secret).", kind="path"),
    Setting("AUDIT_ID", "The backend's id of this audit.", kind="int", minimum=1),
)


def main() -> int:
    configure_logging()
    try:
        values = AUDIT.load()
        token = read_secret("RESULT_TOKEN", {"RESULT_TOKEN_FILE": str(values["RESULT_TOKEN_FILE"])})
    except ConfigError as exc:
        log.error("cannot start the audit: %s", exc)
        return 2
    try:
        ledger = TrainingReader.open(values["ETH_RPC_URL"], values["ETH_CONTRACT_ADDRESS"])
        ledger.expect_platform(values["ETH_FACTORY_ADDRESS"], values["ETH_TOKEN_ADDRESS"])
        report = recompute(ledger.history(), values["BOOTSTRAP_SERVERS"]).to_json()
    except LedgerError as exc:
        report = {"ok": False, "error": str(exc), "checks": [], "first_mismatch": None}
    url = f"{values['RESULT_URL'].rstrip('/')}/audits/{values['AUDIT_ID']}/"
    answer = requests.post(url, json=report, headers={"Authorization": f"Job {token}"}, timeout=30)
    if not answer.ok:
        log.error("the backend refused the audit's verdict: HTTP %s %s", answer.status_code, answer.text[:200])
        return 2
    log.info("audit %s: %s", values["AUDIT_ID"], "all versions recomputed bit for bit" if report["ok"]
             else f"first mismatch at version {report.get('first_mismatch')}: {report.get('error', '')}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
