"""One logging set-up for the CLI and the jobs: our messages at INFO, client libraries' at WARNING.

kafka-python logs every refused connection and cancelled metadata refresh at ERROR while it
retries by itself; what matters reaches us as an exception, so its loggers only show CRITICAL.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("urllib3", "web3", "asyncio", "absl", "tensorflow", "h5py")


def configure(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
