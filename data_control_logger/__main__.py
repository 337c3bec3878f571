"""``python -m data_control_logger``: relay the data control topic to the registry until SIGTERM.

Runs beside the platform backend (the platform's validation datasources) and beside each
client's federated backend (its datasources), with the same settings names. See
:mod:`kafkaml.relay` for why nothing is lost or doubled.
"""

from __future__ import annotations

import sys

from data_control_logger.settings import LOGGER
from kafkaml.logs import configure as configure_logging
from kafkaml.relay import run_logger


def main() -> int:
    configure_logging()
    return run_logger("data_control_logger", LOGGER, "DATA_BOOTSTRAP_SERVERS", "DATA_CONTROL_TOPIC")


if __name__ == "__main__":
    sys.exit(main())
