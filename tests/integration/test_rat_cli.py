"""``kafkaml dataset rat`` against real brokers: each client's share lands whole, with its SNRs."""

from __future__ import annotations

import numpy as np
import pytest

from kafkaml import topics
from kafkaml.cli import main
from kafkaml.control_topics import read_control
from kafkaml.messages.kinds import DataControl
from kafkaml.sinks import DATA_CONTROL_TOPIC
from kafkaml.streams import iterate_samples
from kafkaml.usecases.rat.partition import client_dataset
from kafkaml.usecases.rat.preprocess import validation_set
from kafkaml.usecases.rat.publish import fingerprint, read_snr_table, snr_of
from tests.conftest import unique

SAMPLES, SEED, WINDOW = 96, 11, 64


def published(bootstrap: str, datasource_id: str) -> list[DataControl]:
    return [record.message for record in read_control(bootstrap, DATA_CONTROL_TOPIC, expected=DataControl,
                                                      to_end=True) if record.key == datasource_id.encode()]


def run_cli(bootstrap: str, datasource_id: str, *extra: str) -> int:
    return main(["dataset", "rat", "--bootstrap", bootstrap, "--samples", str(SAMPLES), "--seed", str(SEED),
                 "--window", str(WINDOW), "--datasource-id", datasource_id, "--topic", unique("rat"), *extra])


def test_random_split_shares_land_in_each_clients_kafka_with_their_snr(local_stack):
    expected_total = 0
    for index in (1, 2):
        bootstrap = local_stack.bootstrap(f"client-{index}")
        datasource_id = unique(f"rat-c{index}")
        assert run_cli(bootstrap, datasource_id, "--client-index", str(index), "--clients", "2",
                       "--mode", "random-split") == 0
        [control] = published(bootstrap, datasource_id)
        share = client_dataset(SAMPLES, SEED, "random-split", index, 2, window=WINDOW)
        assert control.count("train") == len(share) and control.input_shape == (2, WINDOW, 1)
        assert control.classes == 6 and control.label_dtype == "int64"
        samples = list(iterate_samples(control, "train", bootstrap))
        read_x = np.stack([x for x, _ in samples])
        read_y = np.array([int(y) for _, y in samples])
        by_print = {fingerprint(x): (y, snr) for x, y, snr in zip(share.x, share.y, share.snr_db, strict=True)}
        assert sorted(by_print) == sorted(fingerprint(x) for x in read_x)
        assert all(by_print[fingerprint(x)][0] == y for x, y in zip(read_x, read_y, strict=True))
        snr = snr_of(read_x, read_snr_table(bootstrap, datasource_id))
        np.testing.assert_array_equal(snr, [by_print[fingerprint(x)][1] for x in read_x])
        expected_total += len(share)
    assert expected_total == SAMPLES


def test_a_platform_validation_set_keeps_its_snr_grid(platform_bootstrap):
    datasource_id = unique("rat-val")
    assert run_cli(platform_bootstrap, datasource_id, "--validation", "--snr-grid=-10,10,30") == 0
    [control] = published(platform_bootstrap, datasource_id)
    x = np.stack([x for x, _ in iterate_samples(control, "train", platform_bootstrap)])
    snr = snr_of(x, read_snr_table(platform_bootstrap, datasource_id))
    assert set(snr.tolist()) == {-10.0, 10.0, 30.0}
    reference = validation_set(SAMPLES, SEED, window=WINDOW, snr_grid=[-10, 10, 30])
    assert sorted(fingerprint(v) for v in reference.x) == sorted(fingerprint(v) for v in x)


@pytest.mark.parametrize("bad", [
    ["--classes", "lte,gsm"],
    ["--snr-min", "20", "--snr-max", "10"],
    ["--snr-grid=0,500"],
    ["--snr-grid=loud"],
    ["--client-index", "3", "--clients", "2", "--mode", "random-split"],
    ["--window", "4"],
    ["--validation", "--clients", "2"],
    ["--validation-rate", "1.5"],
])
def test_bad_input_fails_clearly_and_writes_nothing(local_stack, capsys, bad):
    bootstrap = local_stack.bootstrap("client-3")
    datasource_id = unique("rat-bad")
    topic = unique("rat-bad")
    code = main(["dataset", "rat", "--bootstrap", bootstrap, "--samples", "24", "--window", str(WINDOW),
                 "--datasource-id", datasource_id, "--topic", topic, *bad])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert topics.partition_count(bootstrap, topic) is None
    assert published(bootstrap, datasource_id) == []
