"""One aggregation round: screen the queued updates, aggregate, measure, reward.

The round is a function of the previous global weights, the queued updates (in queue order), the
hashes accepted in earlier rounds and the platform's validation set, so a restarted aggregator recomputes the same round and an
auditor can re-derive the new global weights bit for bit.

Screening happens update by update, in queue order: an update whose pointer or header announce
another size than the model fixes, whose weights cannot be fetched or fail the hash check, whose
payload names another client, base version or training than the queue records, that do not fit
the model, are not finite, or that fail the screening rule (:func:`kafkaml.rewards.screen_update`:
its own validation loss above the reject ratio with no measured accuracy gain) is consumed as
*rejected* (zero reward, with the reason) and never aggregated; so is an update
whose hash was accepted already in this training (a copy: ``duplicate_update``), and, unread, an
update of a client the reward policy excludes for its earlier rejections (``excluded_client``).
Any other failure
while screening one update (a MemoryError, a bug triggered by odd input) rejects that update as
unreadable too: the queue is FIFO, so an update that crashed the aggregator would be first again
after every restart and stop the training for good. Accepted updates are taken until the
strategy has what one round needs. A new version whose weights or validation loss are not finite
is never recorded: the updates it combined are rejected as ``non_finite`` and the previous
version stays, so later updates are screened against a model that can still be measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kafkaml.rewards import Measurement, RejectReason, RewardPolicy, Screening, score, screen_update
from kafkaml.strategies import InvalidUpdate, ServerState, Strategy, Update
from kafkaml.weights.codec import META_BASE_VERSION, META_CLIENT, META_TRAINING, Decoded
from kafkaml.weights.transport import PayloadSizeError, WeightsIntegrityError
from training_worker.coordination.base import Outcome, QueuedUpdate, Submission
from training_worker.evaluation import Score, Validator

log = logging.getLogger(__name__)

Weights = list[np.ndarray]
#: Fetch the weights and metadata of a queued update (verifying size and hash), or global version n.
FetchUpdate = Callable[[QueuedUpdate], Decoded]
FetchVersion = Callable[[int], Weights]


@dataclass
class Screened:
    """A queued update after screening: accepted with its weights and score, or rejected."""

    queued: QueuedUpdate
    weights: Weights | None = None
    score: Score | None = None
    reason: RejectReason | None = None
    detail: str = ""


@dataclass
class RoundResult:
    """What the aggregator records and reports for one round."""

    weights: Weights | None  # None when no update was accepted (nothing to publish yet)
    outcomes: list[Outcome]
    previous: Score
    new: Score | None
    screened: list[Screened] = field(default_factory=list)
    #: The server state after the new version (a server optimizer's moments; None otherwise).
    state: ServerState | None = None


def screen(update: QueuedUpdate, current: Weights, version: int, strategy: Strategy, validator: Validator,
           previous: Score, policy: RewardPolicy, fetch: FetchUpdate, training: str) -> Screened:
    """Fetch, check and measure one update; never raises for a bad update, only rejects it."""
    try:
        return _screen(update, current, version, strategy, validator, previous, policy, fetch, training)
    except PayloadSizeError as exc:
        return Screened(update, reason=RejectReason.SIZE_MISMATCH, detail=str(exc))
    except WeightsIntegrityError as exc:
        return Screened(update, reason=RejectReason.HASH_MISMATCH, detail=str(exc))
    except InvalidUpdate as exc:
        return Screened(update, reason=exc.reason, detail=str(exc))
    except Exception as exc:  # MemoryError, OverflowError, a broker error, anything: see the module docstring
        log.exception("screening update %s failed", update.content_hash.hex()[:12])
        return Screened(update, reason=RejectReason.UNREADABLE, detail=f"{type(exc).__name__}: {exc}"[:500])


def _screen(update: QueuedUpdate, current: Weights, version: int, strategy: Strategy, validator: Validator,
            previous: Score, policy: RewardPolicy, fetch: FetchUpdate, training: str) -> Screened:
    decoded = fetch(update)
    foreign = _foreign(decoded.metadata, update, training)
    if foreign:
        return Screened(update, reason=RejectReason.FOREIGN_UPDATE, detail=foreign)
    weights = decoded.weights
    strategy.check_update(current, version, Update(weights, update.samples, update.base_version))
    own = validator.score(weights)
    verdict = screen_update(policy, Screening(previous.loss, own.loss, previous.accuracy, own.accuracy,
                                              len(validator.y), validator.classes, _step(current, weights)))
    if not verdict.accepted:
        return Screened(update, weights, own, verdict.reason, verdict.detail)
    return Screened(update, weights, own)


def _step(current: Weights, weights: Sequence[np.ndarray]) -> float:
    """‖y − x‖ / ‖x‖ over all arrays, in float64 (a scaled update's squares overflow float32)."""
    moved = sum(float(np.sum((np.asarray(y, np.float64) - np.asarray(x, np.float64)) ** 2))
                for x, y in zip(current, weights, strict=True))
    size = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in current)
    return float(np.sqrt(moved / size)) if size > 0 else float("inf")


def _foreign(metadata: dict[str, str], update: QueuedUpdate, training: str) -> str:
    """Why the payload's metadata does not name the queued update's sender, base and training ("" if it does).

    The content hash covers the metadata, so a client that submits another client's update (or
    one trained for another version or training) submits a payload naming someone else.
    """
    expected = {META_CLIENT: update.client.lower(), META_BASE_VERSION: str(update.base_version),
                META_TRAINING: training}
    named = {key: metadata.get(key, "").lower() if key == META_CLIENT else metadata.get(key) for key in expected}
    wrong = [f"{key} {named[key]!r} (queued: {value!r})" for key, value in expected.items() if named[key] != value]
    return "the payload names " + ", ".join(wrong) if wrong else ""


def run_round(queued: Sequence[QueuedUpdate], current: Weights, version: int, strategy: Strategy,
              validator: Validator, previous: Score, policy: RewardPolicy, fetch: FetchUpdate,
              fetch_version: FetchVersion, cache: dict[Submission, Screened], training: str,
              accepted_before: Collection[bytes], reward_weights: Mapping[str, int] | None = None,
              statistics: Sequence[int] = (), state: ServerState | None = None,
              rejections: Mapping[str, int] | None = None) -> RoundResult:
    """Consume updates from ``queued`` (in order) until the strategy's round is full.

    ``training`` is the training's id, which every update's payload must name.
    Returns ``weights=None`` when the queue ran out before enough updates were accepted: the
    caller waits for more and calls again. ``cache`` keeps the screening of submissions already
    seen at this version, so they are fetched and measured once (within a version the queue only
    grows at its tail, so a cached verdict stays right); the caller clears it per version.

    A verdict belongs to one submission (client, hash, pointer), never to a hash: another
    client's submission of the same hash is screened on its own (its copy or junk harms no one
    else), and once a hash is accepted — in ``accepted_before`` (earlier rounds) or earlier in
    this round — any later submission of it is a ``duplicate_update``, so no update counts twice
    and no copier is paid.
    An accepted update's share of the round's reward is its client's weight in
    ``reward_weights`` (the platform's sample ceilings, by lower-case client; 1 when absent):
    never a number the client reported about itself. ``statistics`` are the model's statistics
    positions (:meth:`kafkaml.strategies.Strategy.aggregate`); ``state`` is the server state after
    ``version`` (:meth:`kafkaml.strategies.Strategy.step`), and the result carries the next one.
    ``rejections`` counts each client's rejections so far in the training (lower case,
    :data:`kafkaml.rewards.COUNTED_AGAINST_CLIENT`), by which ``policy`` may exclude it.
    """
    needed = strategy.updates_per_round
    excluded = policy.excluded(rejections or {})
    screened: list[Screened] = []
    accepted: list[Screened] = []
    for update in queued:
        if len(accepted) == needed:
            break
        item = cache.get(update.submission)
        if item is None:
            item = cache[update.submission] = (
                _excluded(update, excluded, policy)
                or _duplicate(update, accepted_before, accepted)
                or screen(update, current, version, strategy, validator, previous, policy, fetch, training))
            if item.reason is not None:
                log.warning("rejecting update %s from %s: %s %s", update.content_hash.hex()[:12], update.client,
                            item.reason, item.detail)
        screened.append(item)
        if item.reason is None:
            accepted.append(item)
    rejections = [_rejected(i.queued, i.reason) for i in screened if i.reason]
    if len(accepted) < needed:
        return RoundResult(None, rejections, previous, None, screened)

    updates = [
        Update(item.weights, item.queued.samples, item.queued.base_version,
               fetch_version(item.queued.base_version) if strategy.needs_base_weights else None,
               item.queued.content_hash)
        for item in accepted
    ]
    try:
        new_weights, new_state = strategy.step(current, version, updates, statistics, state)
        new = validator.score(new_weights)
        if not new.finite:
            raise InvalidUpdate(RejectReason.NON_FINITE,
                                f"the model these updates aggregate to has validation loss {new.loss}")
    except InvalidUpdate as exc:
        # The combination overflowed or measures NaN: such a version is never recorded, the
        # previous one stays. Every update of the combination is rejected with the reason, in the
        # cache too, so the next attempt takes the updates queued after them.
        for item in accepted:
            item.reason, item.detail = exc.reason, str(exc)
            log.warning("rejecting update %s from %s: %s %s", item.queued.content_hash.hex()[:12], item.queued.client,
                        item.reason, item.detail)
        return RoundResult(None, [_rejected(i.queued, i.reason) for i in screened], previous, None, screened)
    weights = reward_weights or {}

    def weight(item: Screened) -> int:
        return weights.get(item.queued.client.lower(), 1)

    round_weight = sum(weight(item) for item in accepted)
    outcomes = []
    for item in screened:
        if item.reason is not None:
            outcomes.append(_rejected(item.queued, item.reason))
            continue
        reward = score(policy, Measurement(previous.loss, new.loss, weight(item), round_weight))
        outcomes.append(Outcome(item.queued.client, item.queued.content_hash, item.queued.pointer, True,
                                reward.amount if reward.accepted else 0))
    return RoundResult(new_weights, outcomes, previous, new, screened, new_state)


def _excluded(update: QueuedUpdate, excluded: Collection[str], policy: RewardPolicy) -> Screened | None:
    """The rejection of an excluded client's update, without fetching it (None when the client is not excluded)."""
    if update.client.lower() not in excluded:
        return None
    return Screened(update, reason=RejectReason.EXCLUDED_CLIENT,
                    detail=f"this client's updates were rejected {policy.exclude_after} times in this training")


def _duplicate(update: QueuedUpdate, accepted_before: Collection[bytes],
               accepted: Sequence[Screened]) -> Screened | None:
    """The rejection of ``update`` when its hash was accepted already (None when it was not)."""
    if update.content_hash in accepted_before:
        where = "in an earlier round"
    elif any(item.queued.content_hash == update.content_hash for item in accepted):
        where = "earlier in this round"
    else:
        return None
    return Screened(update, reason=RejectReason.DUPLICATE_UPDATE, detail=f"this hash was accepted {where}")


def _rejected(update: QueuedUpdate, reason: RejectReason) -> Outcome:
    return Outcome(update.client, update.content_hash, update.pointer, False, 0, str(reason))
