"""Screening one queued update: every failure is a rejection with a reason, never an exception."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from kafkaml.pointers import WeightsPointer
from kafkaml.rewards import RejectReason, RewardPolicy, rejection_counts
from kafkaml.strategies import make_strategy
from kafkaml.weights.codec import Decoded, update_metadata
from kafkaml.weights.transport import PayloadSizeError, WeightsIntegrityError
from training_worker.coordination.base import QueuedUpdate
from training_worker.evaluation import Score
from training_worker.rounds import RoundResult, run_round, screen

CLIENT = "0xAbCdEf0000000000000000000000000000000001"
UPDATE = QueuedUpdate(CLIENT, 2, b"\x01" * 32, WeightsPointer("kml-weights-t-1", 0, 0, 1), 10)
CURRENT = [np.zeros((2, 2), np.float32)]


class FixedValidator:
    """Scores every set of weights the same (the measurement is not what is tested here)."""

    y = np.zeros(100)
    classes = 2

    def score(self, weights) -> Score:
        return Score(0.5, 0.9)


def run_screen(fetched) -> object:
    def fetch(update: QueuedUpdate) -> Decoded:
        if isinstance(fetched, BaseException):
            raise fetched
        return fetched

    return screen(UPDATE, CURRENT, 3, make_strategy("fedasync"), FixedValidator(), Score(1.0, 0.5), RewardPolicy(),
                  fetch, "t")


@pytest.mark.parametrize("failure, reason, detail", [
    (PayloadSizeError("covers 2147483648 chunks"), RejectReason.SIZE_MISMATCH, "2147483648"),
    (MemoryError(), RejectReason.UNREADABLE, "MemoryError"),
    (OverflowError("cannot fit 'int' into an index-sized integer"), RejectReason.UNREADABLE, "OverflowError"),
    (KeyError("surprise"), RejectReason.UNREADABLE, "KeyError: 'surprise'"),
])
def test_any_failure_of_the_fetch_is_a_rejection(failure: BaseException, reason: RejectReason, detail: str) -> None:
    screened = run_screen(failure)
    assert screened.reason is reason and detail in screened.detail


@pytest.mark.parametrize("metadata, named", [
    (update_metadata("t", "0x" + "99" * 20, 2), "client"),
    (update_metadata("t", CLIENT, 1), "base_version"),
    (update_metadata("other-training", CLIENT, 2), "training"),
    ({}, "client"),
])
def test_a_payload_naming_someone_else_is_foreign(metadata: dict, named: str) -> None:
    screened = run_screen(Decoded([np.ones((2, 2), np.float32)], metadata))
    assert screened.reason is RejectReason.FOREIGN_UPDATE and named in screened.detail


def test_a_payload_naming_its_sender_in_any_case_is_measured() -> None:
    screened = run_screen(Decoded([np.ones((2, 2), np.float32)], update_metadata("t", CLIENT.lower(), 2)))
    assert screened.reason is None and screened.score == Score(0.5, 0.9)


OTHER = "0x" + "bb" * 20


def queued(client: str, base: int = 3) -> QueuedUpdate:
    """An update of ``client`` in its own topic, all with the same content hash."""
    return QueuedUpdate(client, base, UPDATE.content_hash, WeightsPointer(f"kml-weights-t.{client.lower()}", 0, 0, 1),
                        10)


def play_round(queue: list[QueuedUpdate], strategy: str, params: dict, payloads: dict[str, Decoded],
               accepted_before: frozenset[bytes] = frozenset()) -> tuple[RoundResult, list[str]]:
    """One round over ``queue``; each client's payload is ``payloads[client]``. Returns which were fetched."""
    fetched: list[str] = []

    def fetch(update: QueuedUpdate) -> Decoded:
        fetched.append(update.client)
        payload = payloads[update.client]
        if isinstance(payload, BaseException):
            raise payload
        return payload

    result = run_round(queue, CURRENT, 3, make_strategy(strategy, params), FixedValidator(), Score(1.0, 0.5),
                       RewardPolicy(), fetch, lambda n: CURRENT, {}, "t", accepted_before)
    return result, fetched


def genuine(client: str) -> Decoded:
    return Decoded([np.ones((2, 2), np.float32)], update_metadata("t", client, 3))


def test_a_copied_hash_is_a_duplicate_unfetched_and_unpaid() -> None:
    """[A(H), B(H)] under FedAvg K=2: B is a duplicate (not even fetched); the round waits for another."""
    result, fetched = play_round([queued(CLIENT), queued(OTHER)], "fedavg", {"updates": 2},
                                 {CLIENT: genuine(CLIENT), OTHER: genuine(CLIENT)})
    assert result.weights is None and fetched == [CLIENT]
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [(OTHER, False, "duplicate_update")]
    third = "0x" + "cc" * 20
    later = replace(queued(third), content_hash=b"\x03" * 32)
    result, _ = play_round([queued(CLIENT), queued(OTHER), later], "fedavg", {"updates": 2},
                           {CLIENT: genuine(CLIENT), OTHER: genuine(CLIENT), third: genuine(third)})
    assert [(o.client, o.accepted, o.reward > 0) for o in result.outcomes] == [
        (CLIENT, True, True), (OTHER, False, False), (third, True, True)]
    assert [o.pointer for o in result.outcomes] == [u.pointer for u in (queued(CLIENT), queued(OTHER), later)]


def test_a_hash_accepted_in_an_earlier_round_is_a_duplicate() -> None:
    result, fetched = play_round([queued(OTHER)], "fedasync", {}, {OTHER: genuine(OTHER)},
                                 accepted_before=frozenset({UPDATE.content_hash}))
    assert result.weights is None and not fetched
    assert result.screened[0].reason is RejectReason.DUPLICATE_UPDATE and "earlier round" in result.screened[0].detail


def test_junk_under_a_copied_hash_does_not_decide_the_genuine_update() -> None:
    """[B(H, junk), A(H, real)] under FedAsync: each submission is fetched and judged on its own."""
    result, fetched = play_round([queued(OTHER), queued(CLIENT)], "fedasync", {},
                                 {OTHER: WeightsIntegrityError("not the submitted hash"), CLIENT: genuine(CLIENT)})
    assert fetched == [OTHER, CLIENT] and result.weights is not None
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [
        (OTHER, False, "hash_mismatch"), (CLIENT, True, "")]


def test_a_version_measuring_nan_is_never_made_and_later_updates_still_count() -> None:
    """Real Keras. A FedBuff step with η_g = 100 amplifies an update whose own validation loss is
    finite (kernels of 1e17: logits about 1e35) into kernels of 1e19, whose logits overflow to
    infinity and whose loss is NaN. That version must not be made: the update is rejected as
    non_finite, the previous score stays, and the honest update queued after it makes the version."""
    import keras

    from training_worker.evaluation import Validator

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.abs(np.random.default_rng(0).normal(1.0, 0.5, (64, 2))).astype(np.float32)
    validator = Validator(model, x, (x[:, 0] > x[:, 1]).astype(np.int64))
    genesis = model.get_weights()
    previous = validator.score(genesis)
    bomb = [np.full_like(array, 1e17) if array.ndim == 2 else np.zeros_like(array) for array in genesis]
    assert validator.score(bomb).finite
    honest = [array + np.float32(0.01) for array in genesis]
    queue = [replace(queued(CLIENT, base=0), content_hash=b"\x0b" * 32),
             replace(queued(OTHER, base=0), content_hash=b"\x0c" * 32)]
    payloads = {CLIENT: bomb, OTHER: honest}
    strategy = make_strategy("fedbuff", {"updates": 1, "server_lr": 100, "staleness": "constant"})
    cache: dict = {}

    def play(queue: list[QueuedUpdate]) -> RoundResult:
        return run_round(queue, genesis, 0, strategy, validator, previous, RewardPolicy(reject_ratio=1000),
                         lambda u: Decoded(payloads[u.client], update_metadata("t", u.client, 0)),
                         lambda n: genesis, cache, "t", frozenset())

    result = play(queue[:1])
    assert result.weights is None and result.new is None
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [(CLIENT, False, "non_finite")]
    assert "validation loss nan" in result.screened[0].detail
    result = play(queue)
    assert result.weights is not None and result.new.finite
    assert [(o.client, o.accepted) for o in result.outcomes] == [(CLIENT, False), (OTHER, True)]


def test_an_honest_over_confident_first_update_passes_and_a_scaled_random_one_does_not() -> None:
    """Real Keras on the toy task. The genesis predicts uniformly (loss ln 3); one local epoch makes
    an update that classifies far better but is over-confident, its loss several times ln 3: the
    engine's old rule (loss ratio ≤ 1.5) rejected it. A ×1000 scaled random update stays rejected."""
    import keras

    from kafkaml.toydata import toy_blobs
    from training_worker.evaluation import Validator

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.Adam(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    validator = Validator(model, *toy_blobs(600, 2, spread=4.0))
    genesis = model.get_weights()
    previous = validator.score(genesis)
    assert previous.loss == pytest.approx(np.log(3), rel=1e-5) and validator.classes == 3
    model.fit(*toy_blobs(300, 1, spread=4.0), batch_size=16, epochs=1, verbose=0)
    honest = model.get_weights()
    rng = np.random.default_rng(0)
    attacker = [(rng.standard_normal(w.shape) * 1000).astype(np.float32) for w in genesis]
    strategy, policy = make_strategy("fedasync"), RewardPolicy()

    def verdict(weights: list[np.ndarray]):
        return screen(replace(UPDATE, base_version=0), genesis, 0, strategy, validator, previous, policy,
                      lambda u: Decoded(weights, update_metadata("t", CLIENT, 0)), "t")

    kept = verdict(honest)
    assert kept.score.loss > 1.5 * previous.loss and kept.score.accuracy > previous.accuracy + 0.3
    assert kept.reason is None
    refused = verdict(attacker)
    assert refused.reason is RejectReason.WORSE_THAN_THRESHOLD and "no measured gain" in refused.detail


def test_a_round_of_a_server_optimizer_steps_from_the_given_state_and_returns_the_next() -> None:
    strategy = make_strategy("fedavgm", {"updates": 2, "momentum": 0.5})
    state = strategy.initial_state(CURRENT)
    queue = [queued(CLIENT), replace(queued(OTHER), content_hash=b"\x02" * 32)]
    payloads = {CLIENT: genuine(CLIENT), OTHER: genuine(OTHER)}
    result = run_round(queue, CURRENT, 3, strategy, FixedValidator(), Score(1.0, 0.5), RewardPolicy(),
                       lambda update: payloads[update.client], lambda n: CURRENT, {}, "t", frozenset(), state=state)
    # Δ = 1 everywhere: m = ½·0 + 1, x = 0 + 1·m
    assert result.weights[0].tolist() == [[1, 1], [1, 1]] and result.state.m[0].tolist() == [[1, 1], [1, 1]]
    assert state.m[0].tolist() == [[0, 0], [0, 0]]  # the state the round stepped from is unchanged


def test_a_client_rejected_too_often_is_excluded_unread_and_others_are_not() -> None:
    """REWARD_EXCLUDE_AFTER=2: a client with two counted rejections is rejected as excluded_client
    without its update being fetched; a client with one, and a client counted in another case of
    its address, are measured as usual."""
    third = "0x" + "cc" * 20
    queue = [queued(CLIENT), replace(queued(OTHER), content_hash=b"\x02" * 32),
             replace(queued(third), content_hash=b"\x03" * 32)]
    fetched: list[str] = []

    def fetch(update: QueuedUpdate) -> Decoded:
        fetched.append(update.client)
        return genuine(update.client)

    result = run_round(queue, CURRENT, 3, make_strategy("fedavg", {"updates": 2}), FixedValidator(),
                       Score(1.0, 0.5), RewardPolicy(exclude_after=2), fetch, lambda n: CURRENT, {}, "t", frozenset(),
                       rejections=Counter({CLIENT.lower(): 2, OTHER.lower(): 1}))
    assert fetched == [OTHER, third]
    assert [(o.client, o.accepted, o.reason) for o in result.outcomes] == [
        (CLIENT, False, "excluded_client"), (OTHER, True, ""), (third, True, "")]
    assert "rejected 2 times" in result.screened[0].detail


def test_without_a_threshold_no_one_is_excluded() -> None:
    assert RewardPolicy().excluded({CLIENT: 1000}) == frozenset()
    assert RewardPolicy(exclude_after=3).excluded({CLIENT: 3, OTHER: 2}) == {CLIENT.lower()}
    with pytest.raises(ValueError, match="exclude_after"):
        RewardPolicy(exclude_after=-1)


def test_what_counts_against_a_client() -> None:
    """Every rejection reason but the platform's own failure to read and the exclusion itself."""
    counts = rejection_counts([(CLIENT, False, "worse_than_threshold"), (CLIENT.upper(), False, "hash_mismatch"),
                               (CLIENT, False, "unreadable"), (CLIENT, False, "excluded_client"),
                               (CLIENT, True, ""), (OTHER, False, "foreign_update")])
    assert counts == {CLIENT.lower(): 2, OTHER.lower(): 1}


def test_the_validator_scores_exactly_as_model_evaluate_on_the_arrays() -> None:
    """The validator batches its split once, where ``model.evaluate`` given the numpy arrays made a
    dataset of them on every call: no score may move by a bit for it, with a partial last batch and
    with input in another float type than Keras' (which evaluate casts)."""
    import keras

    from kafkaml.toydata import toy_blobs
    from training_worker.evaluation import Validator

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_blobs(300, 4, spread=3.0)
    x = x.astype(np.float64) + 1e-9  # not representable in float32
    validator = Validator(model, x, y, batch_size=128)  # batches of 128, 128 and 44
    rng = np.random.default_rng(1)
    genesis = model.get_weights()
    for _ in range(3):
        weights = [w + rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in genesis]
        score = validator.score(weights)
        model.set_weights(weights)
        expected = model.evaluate(x, y, batch_size=128, verbose=0, return_dict=True)
        assert (score.loss, score.accuracy) == (expected["loss"], expected["accuracy"])
