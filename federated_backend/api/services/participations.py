"""Participations: which announced model trains on which of this owner's datasources.

Every accepted announcement is matched against every datasource and every new datasource
against every accepted announcement (:mod:`kafkaml.matching`); each pair gets one participation
for good — mismatched (with the reasons), proposed (waiting for the owner under the ``approval``
policy), approved, or declined (e.g. this client is not registered for the training) — so a model
that trained on a datasource is never started again by a later arrival. Approved participations
start a trainer job as soon as fewer than ``MAX_RUNNING_TRAINERS`` run, each only when this client
is registered for its training (on chain, or named by the signed classic announcement); a job's
end is read from the launcher, by its label, by the service's reconciler (:func:`schedule`).
"""

from __future__ import annotations

import json
import logging

from django.db import IntegrityError, transaction

from federated_backend.api.environment import client_settings
from federated_backend.api.models import AnnouncedModel, Participation
from federated_backend.api.services import trainers
from kafkaml.matching import mismatches, registration
from kafkaml.messages.kinds import ModelControl, decode
from kafkaml.messages.legacy import parse_data_control
from kafkaml.services.api import Conflict
from kafkaml.services.reconciler import exclusive
from kafkaml.services.registry.models import Datasource

log = logging.getLogger(__name__)
State = Participation.State


def model_arrived(model: AnnouncedModel) -> None:
    for datasource in Datasource.objects.all():
        _propose(model, datasource)
    schedule()


def datasource_arrived(datasource: Datasource) -> None:
    """The registry's hook for each newly registered datasource (settings.REGISTRY_DATASOURCE_HOOK)."""
    for model in AnnouncedModel.objects.filter(state=AnnouncedModel.State.ACCEPTED):
        _propose(model, datasource)
    schedule()


def announcement_of(model: AnnouncedModel) -> ModelControl:
    announcement = decode(json.dumps(model.message), ModelControl)
    assert isinstance(announcement, ModelControl)
    return announcement


def _propose(model: AnnouncedModel, datasource: Datasource) -> None:
    if Participation.objects.filter(model=model, datasource=datasource).exists():
        return
    announcement = announcement_of(model)
    problems = mismatches(announcement, parse_data_control(datasource.message))
    state = State.MISMATCHED if problems else State.APPROVED if client_settings().site_policy == "auto" else State.PROPOSED
    if not problems and _training_over(announcement):
        state, problems = State.DECLINED, ["the training finished before this datasource arrived"]
    elif not problems:
        registered, why = _registration(announcement)
        if registered is False:
            state, problems = State.DECLINED, [why]
        elif registered is None:  # asked again before its trainer starts (schedule)
            problems = [why]
    try:
        with transaction.atomic():
            Participation.objects.create(model=model, datasource=datasource, state=state, reason="; ".join(problems))
    except IntegrityError:  # proposed concurrently by the other arrival
        return


def _training_over(announcement: ModelControl) -> bool:
    """Whether the announced training closed already (blockchain: its contract says so), so that a
    datasource arriving later starts no trainer for it."""
    if announcement.blockchain is None or not client_settings().rpc_url:
        return False
    from kafkaml.ledger import LedgerError, TrainingReader
    from kafkaml.ledger.records import Phase

    try:
        return TrainingReader.open(client_settings().rpc_url, announcement.blockchain.contract_address).phase() == Phase.FINISHED
    except LedgerError:
        return False


def _registration(announcement: ModelControl) -> tuple[bool | None, str]:
    """Whether this client is registered for the announced training (None: the chain cannot say
    now), with why not: only the clients the platform registered train, so no site gives its data
    to a training that did not name it (:func:`kafkaml.matching.registration`)."""
    site = client_settings()
    identity = site.wallet_address if announcement.coordination == "blockchain" else site.client_id
    return registration(announcement, identity, site.rpc_url)


def on_chain(participation: Participation) -> dict:
    """This client's updates in the participation's training, its rewards earned and paid, and its
    token balance, as the contract records them now (empty in classic mode or when unreadable)."""
    nothing = {"updates": [], "earned": None, "paid": None, "token_balance": None}
    site = client_settings()
    address = participation.model.contract_address
    if not address or not site.rpc_url or not site.wallet_address:
        return nothing
    from kafkaml.ledger import LedgerError, TrainingReader

    try:
        ledger = TrainingReader.open(site.rpc_url, address)
        audit = ledger.history()
        balance = ledger.token_balance(site.wallet_address)
    except LedgerError:
        return nothing
    mine = site.wallet_address.lower()
    updates = [u for u in [*(u for v in audit.versions for u in v.updates), *audit.pending] if u.client.lower() == mine]
    return {"updates": [{"sha256": u.content_hash.hex(), "base_version": u.base_version, "version": u.version,
                         "staleness": u.staleness, "accepted": u.accepted, "reward": str(u.reward),
                         "reason": u.reason} for u in updates],
            "earned": str(sum(a for c, a in audit.earned.items() if c.lower() == mine)),
            "paid": str(sum(a for c, a in audit.paid.items() if c.lower() == mine)),
            "token_balance": str(balance)}


def participation_approve(*, participation: Participation) -> Participation:
    _move(participation, (State.PROPOSED, State.DECLINED), State.APPROVED, "", "approved")
    schedule()
    participation.refresh_from_db()
    return participation


def participation_decline(*, participation: Participation) -> Participation:
    _move(participation, (State.PROPOSED, State.APPROVED), State.DECLINED, "declined by the owner", "declined")
    participation.refresh_from_db()
    return participation


def _move(participation: Participation, sources: tuple[str, ...], target: str, reason: str, verb: str) -> None:
    """Change the state only from one of ``sources``, checked in the same UPDATE: an owner's two
    clicks at once must not move a participation that the first already started back to approved
    (a second trainer for it)."""
    if not Participation.objects.filter(pk=participation.pk, state__in=sources).update(state=target, reason=reason):
        participation.refresh_from_db()
        raise Conflict(f"the participation is {participation.state}; only a {' or '.join(sources)} one can be {verb}")


def participation_stop(*, participation: Participation) -> Participation:
    if participation.state != State.RUNNING:
        raise Conflict(f"the participation is {participation.state}; only a running one can be stopped")
    trainers.stop(participation)
    Participation.objects.filter(pk=participation.pk).update(state=State.STOPPED, reason="stopped by the owner")
    schedule()  # its slot is free
    participation.refresh_from_db()
    return participation


def refresh() -> None:
    """Running participations whose job ended become finished or failed (read from the launcher)."""
    for participation in Participation.objects.filter(state=State.RUNNING):
        ended = trainers.ended(participation)
        if ended is not None:
            state, reason = ended
            Participation.objects.filter(pk=participation.pk, state=State.RUNNING).update(state=state, reason=reason)


@transaction.atomic
def schedule() -> None:
    """Start approved participations while trainer slots are free (oldest first). Run by the
    service's reconciler and after each change that may free or fill a slot; one process at a time,
    so that two cannot both count a slot free and start a trainer each."""
    exclusive("participations.schedule")
    refresh()
    running = Participation.objects.filter(state=State.RUNNING).count()
    waiting = Participation.objects.select_for_update().filter(state=State.APPROVED).order_by("pk")
    slots = max(0, client_settings().max_running - running)
    for participation in waiting:
        if slots == 0:
            break
        announcement = announcement_of(participation.model)
        registered, why = _registration(announcement)  # the owner may approve one declined for this
        if registered is False:
            Participation.objects.filter(pk=participation.pk).update(state=State.DECLINED, reason=why)
            continue
        if registered is None:  # the chain cannot say now: the next pass asks again
            Participation.objects.filter(pk=participation.pk).update(reason=why)
            continue
        slots -= 1
        try:
            job = trainers.launch(participation, announcement)
        except Exception as exc:  # a launch that fails fails this participation, with why; never the others
            log.exception("participation %s could not start", participation.pk)
            Participation.objects.filter(pk=participation.pk).update(state=State.FAILED,
                                                                     reason=f"launch failed: {exc}")
            continue
        Participation.objects.filter(pk=participation.pk).update(state=State.RUNNING, job=job, reason="")
