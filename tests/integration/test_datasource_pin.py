"""A job told where its datasource's description is (DATASOURCE_PARTITION/OFFSET with its
SHA-256, as the backends send it) reads that one record and verifies it: it does not scan the
data control topic, and a place holding other bytes or another datasource is refused (real broker)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from kafkaml.control_topics import RecordPin, read_control
from kafkaml.local import stack as local
from kafkaml.messages.kinds import DataControl
from kafkaml.sinks import publish_datasource
from kafkaml.workloads import Samples
from tests.conftest import unique
from training_worker.announcement import AnnouncementError, find_datasource


def _describe(bootstrap: str, topic: str, datasource_id: str, count: int) -> None:
    rng = np.random.default_rng(count)
    samples = Samples(rng.normal(size=(count, 4)).astype("float32"), rng.integers(0, 2, size=count))
    publish_datasource(bootstrap, unique("data"), datasource_id, samples, classes=2, control_topic=topic)


def test_a_pinned_description_is_read_alone_and_verified(local_stack: local.Stack) -> None:
    bootstrap, topic = local_stack.bootstrap("platform"), unique("data-control")
    name, other = unique("validation"), unique("other")
    _describe(bootstrap, topic, name, 40)  # the one the service chose
    _describe(bootstrap, topic, name, 50)  # the same id described again, later
    _describe(bootstrap, topic, other, 60)
    records = list(read_control(bootstrap, topic, expected=DataControl, to_end=True))
    chosen, later, elsewhere = records
    digest = hashlib.sha256(chosen.raw).hexdigest()

    description, sha256 = find_datasource(bootstrap, topic, name, 10, sha256=digest,
                                          at=RecordPin(0, chosen.offset, digest))
    assert (description, sha256) == (chosen.message, digest) and description != later.message
    assert find_datasource(bootstrap, topic, name, 10)[0] == later.message  # unpinned: the newest

    with pytest.raises(AnnouncementError, match="not the pinned"):  # the place holds other bytes
        find_datasource(bootstrap, topic, name, 10, sha256=digest, at=RecordPin(0, later.offset, digest))
    elsewhere_digest = hashlib.sha256(elsewhere.raw).hexdigest()
    with pytest.raises(AnnouncementError, match=f"of datasource '{other}', not '{name}'"):
        find_datasource(bootstrap, topic, name, 10, sha256=elsewhere_digest,
                        at=RecordPin(0, elsewhere.offset, elsewhere_digest))
    with pytest.raises(AnnouncementError, match="no record"):
        find_datasource(bootstrap, topic, name, 2, sha256=digest, at=RecordPin(0, 99, digest))
