"""Announcements: the platform's model control records, each registered once and trusted only
when anchored.

Anyone who can write to the platform's model control topic can write an announcement. In
blockchain mode one is trusted only when the training it names was created by the factory behind
this client's platform token (``ETH_TOKEN_ADDRESS``) and recorded this announcement's SHA-256
when it started; in classic mode only when it carries the signature of ``PLATFORM_SIGNER_ADDRESS``.
A second announcement of a model already known starts nothing (a restarted aggregator announces
again). Every record's fate is kept, with why: any record at all (empty, malformed, oversized, with
a null or oversized header, or one the relay could not deliver whole) is registered, as rejected,
keeping only a bounded trace of it (:mod:`kafkaml.relay_records`).
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.db.models import Max

from federated_backend.api.environment import client_settings
from federated_backend.api.models import AnnouncedModel
from federated_backend.api.services import participations
from kafkaml.messages.fields import SchemaError
from kafkaml.messages.kinds import ModelControl, decode
from kafkaml.relay_records import MAX_ANNOUNCEMENT_BYTES, ControlRecord
from kafkaml.signing import signed_by


def announcement_register(*, control_topic: str, partition: int, offset: int,
                          record: ControlRecord) -> tuple[AnnouncedModel, bool]:
    """The announcement of one model control record; ``True`` when it was new."""
    position = {"control_topic": control_topic, "control_partition": partition, "control_offset": offset}
    existing = AnnouncedModel.objects.filter(**position).first()
    if existing is not None:
        return existing, False
    announcement, problem = _trusted(record)
    fields = {"model_id": announcement.model_id if announcement else "",
              "coordination": announcement.coordination if announcement else "",
              "contract_address": announcement.blockchain.contract_address
              if announcement and announcement.blockchain else ""}
    if not problem:
        known = AnnouncedModel.objects.filter(model_id=fields["model_id"], state=AnnouncedModel.State.ACCEPTED).first()
        if known is not None:
            problem = f"model {fields['model_id']!r} is known already (announcement {known.pk}); nothing new starts"
    if problem:
        kept = {**fields, **record.rejection(problem), "state": AnnouncedModel.State.REJECTED, "message": None}
    else:
        kept = {**fields, "size": record.size, "sha256": record.sha256, "state": AnnouncedModel.State.ACCEPTED,
                "message": announcement.to_json()}
    try:
        with transaction.atomic():
            model = AnnouncedModel.objects.create(**position, **kept)
    except IntegrityError:
        return AnnouncedModel.objects.get(**position), False
    if model.state == AnnouncedModel.State.ACCEPTED:
        participations.model_arrived(model)
    return model, True


def next_offset(*, control_topic: str, partition: int) -> int:
    last = AnnouncedModel.objects.filter(control_topic=control_topic, control_partition=partition).aggregate(
        last=Max("control_offset"))["last"]
    return 0 if last is None else last + 1


def _trusted(record: ControlRecord) -> tuple[ModelControl | None, str]:
    """The announcement and "" when it is trusted; otherwise why not."""
    problem = record.problem(MAX_ANNOUNCEMENT_BYTES)
    if problem:
        return None, problem
    try:
        announcement = decode(record.value, ModelControl)
    except SchemaError as exc:
        return None, str(exc)
    assert isinstance(announcement, ModelControl)
    site = client_settings()
    if announcement.coordination == "classic":
        if not site.platform_signer:
            return announcement, "classic announcements need PLATFORM_SIGNER_ADDRESS, which is not set"
        if not signed_by(record.value, record.headers, site.platform_signer):
            return announcement, "not signed by the platform's signer"
        return announcement, ""
    return announcement, _anchored_on_chain(announcement, record.value)


def _anchored_on_chain(announcement: ModelControl, record: bytes) -> str:
    from kafkaml.ledger import LedgerError, TrainingReader

    site = client_settings()
    if not site.rpc_url or not site.token_address:
        return "this client has no chain configured (ETH_RPC_URL, ETH_TOKEN_ADDRESS)"
    assert announcement.blockchain is not None
    try:
        ledger = TrainingReader.open(site.rpc_url, announcement.blockchain.contract_address)
        platform = ledger.platform()
        if platform.token.lower() != site.token_address.lower():
            return f"the training belongs to the platform of token {platform.token}, not this client's"
        recorded = ledger.announcement_hash()
    except LedgerError as exc:
        return f"the training cannot be verified on chain: {exc}"
    if recorded != hashlib.sha256(record).digest():
        return "not the announcement the training recorded when it started"
    return ""
