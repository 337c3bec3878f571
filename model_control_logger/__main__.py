"""``python -m model_control_logger``: relay the platform's announcements to the federated backend.

Every client reads the topic on its own, from where its backend says it stopped (explicit
partition assignment, no consumer group), so the topic is a broadcast: each client sees every
announcement once, and a restarted logger replays none of them into new jobs (see
:mod:`kafkaml.relay`).
"""

from __future__ import annotations

import sys

from kafkaml.logs import configure as configure_logging
from kafkaml.relay import run_logger
from model_control_logger.settings import LOGGER


def main() -> int:
    configure_logging()
    return run_logger("model_control_logger", LOGGER, "KML_CLOUD_BOOTSTRAP_SERVERS", "MODEL_LOGGER_TOPIC")


if __name__ == "__main__":
    sys.exit(main())
