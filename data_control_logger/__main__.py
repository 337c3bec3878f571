"""``python -m data_control_logger``: relay the data control topic to the registry until SIGTERM.

Runs beside the platform backend (the platform's validation datasources) and beside each
client's federated backend (its datasources), with the same settings names. See
:mod:`kafkaml.relay` for why nothing is lost or doubled.
"""

from __future__ import annotations

import logging
import sys

from data_control_logger.settings import LOGGER
from kafkaml.config import ConfigError, read_secret
from kafkaml.logs import configure as configure_logging
from kafkaml.relay import Registry, RegistryRefused, Relay

log = logging.getLogger("data_control_logger")

def main() -> int:
    configure_logging()
    try:
        values = LOGGER.load()
        token = read_secret("REGISTRY_TOKEN", {"REGISTRY_TOKEN_FILE": str(values["REGISTRY_TOKEN_FILE"])})
    except ConfigError as exc:
        log.error("cannot start the data control logger: %s", exc)
        return 2
    url = values["REGISTRY_URL"] if values["REGISTRY_URL"].endswith("/") else values["REGISTRY_URL"] + "/"
    relay = Relay(values["DATA_BOOTSTRAP_SERVERS"], values["DATA_CONTROL_TOPIC"], Registry(url, token))
    relay.stop_on_signals()
    try:
        relay.run()
    except RegistryRefused as exc:
        log.error("%s", exc)
        return 2
    log.info("stopped after relaying %d record(s)", relay.delivered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
