"""``python -m model_control_logger``: relay the platform's announcements to the federated backend.

Every client reads the topic on its own, from where its backend says it stopped (explicit
partition assignment, no consumer group), so the topic is a broadcast: each client sees every
announcement once, and a restarted logger replays none of them into new jobs (see
:mod:`kafkaml.relay`).
"""

from __future__ import annotations

import logging
import sys

from kafkaml.config import ConfigError, read_secret
from kafkaml.logs import configure as configure_logging
from kafkaml.relay import Registry, RegistryRefused, Relay
from model_control_logger.settings import LOGGER

log = logging.getLogger("model_control_logger")


def main() -> int:
    configure_logging()
    try:
        values = LOGGER.load()
        token = read_secret("REGISTRY_TOKEN", {"REGISTRY_TOKEN_FILE": str(values["REGISTRY_TOKEN_FILE"])})
    except ConfigError as exc:
        log.error("cannot start the model control logger: %s", exc)
        return 2
    url = values["REGISTRY_URL"] if values["REGISTRY_URL"].endswith("/") else values["REGISTRY_URL"] + "/"
    relay = Relay(values["KML_CLOUD_BOOTSTRAP_SERVERS"], values["MODEL_LOGGER_TOPIC"], Registry(url, token))
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
