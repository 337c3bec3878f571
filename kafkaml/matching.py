"""Whether a datasource may train an announced model, and whether this client may train it at
all: the rules a client's backend (which proposes participations and starts trainers) and its
trainer (which refuses data that does not fit, and a training it is not registered for) both
apply.

Compared, beyond what the earlier Kafka-ML compared (reshape, restrictions, min data): the
output — the datasource's classes must be ones the model predicts —, the label type, and the
framework. Every mismatch is named, so a data owner sees why a model was not matched.
"""

from __future__ import annotations

import numpy as np

from kafkaml.messages.kinds import DataControl, ModelControl

FRAMEWORKS = ("tensorflow", "tf")


def mismatches(announcement: ModelControl, datasource: DataControl) -> list[str]:
    """Why ``datasource`` cannot train ``announcement``'s model (empty when it can)."""
    reasons = []
    if tuple(announcement.input_shape) != tuple(datasource.input_shape):
        reasons.append(f"samples of shape {tuple(datasource.input_shape)}, the model expects "
                       f"{tuple(announcement.input_shape)}")
    classes = announcement.output_shape[-1] if announcement.output_shape else None
    if datasource.classes is not None and classes is not None and datasource.classes > classes:
        reasons.append(f"{datasource.classes} classes, the model predicts {classes}")
    if np.dtype(datasource.label_dtype).kind != np.dtype(announcement.label_dtype).kind:
        reasons.append(f"labels of type {datasource.label_dtype}, the model is trained on {announcement.label_dtype}")
    if announcement.framework.lower() not in FRAMEWORKS:
        reasons.append(f"framework {announcement.framework!r}, this client trains {FRAMEWORKS[0]}")
    if dict(announcement.data_restriction) != dict(datasource.dataset_restrictions):
        reasons.append(f"restrictions {dict(datasource.dataset_restrictions)}, the model requires "
                       f"{dict(announcement.data_restriction)}")
    if datasource.count("train") < announcement.min_data:
        reasons.append(f"{datasource.count('train')} training samples, the model needs at least "
                       f"{announcement.min_data}")
    return reasons


def registration_problem(announcement: ModelControl, identity: str, rpc_url: str) -> str:
    """Why the client ``identity`` (its wallet address in blockchain mode, its client id in classic
    mode) is not registered for the announced training, or cannot tell now; "" when it is.

    Only the clients the platform registered train: a site whose data the platform did not match
    (and does not pay) gives none of it away. In blockchain mode the training's contract is asked;
    in classic mode the signed announcement names the clients.
    """
    return registration(announcement, identity, rpc_url)[1]


def registration(announcement: ModelControl, identity: str, rpc_url: str) -> tuple[bool | None, str]:
    """(True, "") when ``identity`` is registered for the announced training; (False, why) when it
    is not; (None, why) when the chain cannot say now (it is away or busy): a service asks again
    later rather than decide for good on one failed read."""
    if announcement.coordination == "classic":
        if identity in announcement.clients:
            return True, ""
        return False, f"this client ({identity!r}) is not named by the training's announcement"
    assert announcement.blockchain is not None
    training = announcement.blockchain.contract_address
    if not identity:
        return False, "this client's wallet address is not set: it cannot tell whether it is registered for the training"
    if not rpc_url:
        return False, "this client has no chain configured (ETH_RPC_URL): it cannot tell whether it is registered"
    from kafkaml.ledger import LedgerError, TrainingReader

    try:
        registered = TrainingReader.open(rpc_url, training).is_client(identity)
    except ValueError as exc:
        return False, f"the training {training} cannot tell whether this client is registered: {exc}"
    except LedgerError as exc:
        return None, f"the training {training} cannot tell whether this client is registered: {exc}"
    if registered:
        return True, ""
    return False, f"this client's wallet {identity} is not registered for the training {training}"
