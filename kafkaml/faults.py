"""Fault injection: end a job at an exact point of its protocol, to test what a restart does there.

A crash at a random moment rarely lands where it hurts: between two writes that must go together.
Restart tests set ``KAFKAML_FAULT_POINT`` to one of :data:`FAULT_POINTS`; when the job reaches
that point it logs one line and ends at once with exit code 137 (what a SIGKILL or an OOM kill
gives), without running ``finally`` blocks, flushing producers or closing anything — a crash,
not a shutdown. Unset (the default, and always in production) every point is a no-op.

The points, in the order a training meets them:

``aggregator.after_publish``
    A round's new global weights are in Kafka, the round is not yet recorded by the coordinator
    (chain or control topic): the version must not exist for anyone yet.
``aggregator.after_record``
    The round is recorded by the coordinator, not yet reported to the results sink: a restart
    must not aggregate or reward its updates again.
``aggregator.after_finish``
    The training is closed on the coordinator, the rewards are not yet paid and the final model
    and report not yet written: a restart must pay and write them, once.
``trainer.after_publish``
    A client's update is in Kafka, not yet submitted: nobody may count it; the restarted trainer
    trains again and submits another.
``trainer.after_submit``
    The update is submitted, not yet reported to the client's sink: the restarted trainer must
    not submit it again.
``inference.after_flush``
    An inference worker's batch is answered (predictions and errors flushed), its input offsets
    not yet committed: the restarted worker must skip those inputs, not answer them twice.
"""

from __future__ import annotations

import logging
import os
import sys

from kafkaml.config import Setting, declare

FAULT_POINTS = (
    "aggregator.after_publish",
    "aggregator.after_record",
    "aggregator.after_finish",
    "trainer.after_publish",
    "trainer.after_submit",
    "inference.after_flush",
)

#: The exit code of a job ended by a fault point: that of a process killed by SIGKILL.
FAULT_EXIT_CODE = 137

FAULT_POINT = Setting("KAFKAML_FAULT_POINT", "Tests only: end the job with exit code 137 when it reaches this "
                      "point (see kafkaml/faults.py); empty: never.", default="", choices=FAULT_POINTS)
declare("Fault injection (tests only)", FAULT_POINT)

log = logging.getLogger(__name__)


def fault_point(name: str) -> None:
    """End the process at once when ``KAFKAML_FAULT_POINT`` names this point; else do nothing."""
    if name not in FAULT_POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(FAULT_POINTS)}")
    if FAULT_POINT.read() != name:
        return
    log.error("fault point %s reached: ending the process now (KAFKAML_FAULT_POINT)", name)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(FAULT_EXIT_CODE)
