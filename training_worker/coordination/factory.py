"""Pick the coordinator a job's settings ask for: the contract or the classic control topic."""

from __future__ import annotations

from collections.abc import Callable

from kafkaml.control_topics import ControlRecord
from kafkaml.messages.kinds import ModelControl
from kafkaml.signing import signed_by
from training_worker.announcement import AnnouncementError, find_model, pinned_model
from training_worker.coordination.base import ClientCoordinator, PlatformCoordinator
from training_worker.coordination.classic import ClassicClient, ClassicCoordination, ClassicPlatform
from training_worker.settings import AggregatorSettings, TrainerSettings


def classic_topic(model_id: str) -> str:
    return f"kml-fl-{model_id}"


def platform_coordinator(settings: AggregatorSettings, weights_topic: str) -> PlatformCoordinator:
    if settings.coordination == "classic":
        channel = ClassicCoordination(settings.bootstrap_servers, classic_topic(settings.federated_id),
                                      settings.federated_id, "aggregator")
        assert settings.signing_key, "classic coordination without a signing key"
        return ClassicPlatform(channel, settings.signing_key)
    from training_worker.coordination.chain import ChainPlatform

    return ChainPlatform.open(settings, weights_topic)


def open_client(settings: TrainerSettings) -> tuple[ModelControl, ClientCoordinator]:
    """The trusted announcement of the trainer's model and the coordinator to follow it.

    In blockchain mode the training comes first (the trainer is told its address, and trusts it
    only when the platform's factory created it), then the one announcement whose hash the
    training recorded; in classic mode the newest announcement signed by the platform's signer
    (PLATFORM_SIGNER_ADDRESS), which names the control topic. A trainer pinned to one announcement
    (ANNOUNCEMENT_OFFSET, ANNOUNCEMENT_SHA256: the record its client's service approved) reads
    that record alone and still requires the same trust of it.
    """
    def find(trusted: Callable[[ControlRecord], bool]) -> ModelControl:
        model = (settings.platform_bootstrap_servers, settings.model_logger_topic, settings.federated_id)
        pin, timeout_s = settings.announcement_pin, settings.training.start_timeout_s
        announcement = (pinned_model(*model, pin, timeout_s, trusted) if pin is not None
                        else find_model(*model, timeout_s, trusted))
        if announcement.coordination != settings.coordination:
            raise AnnouncementError(f"COORDINATION={settings.coordination} but model {announcement.model_id!r} is "
                                    f"coordinated by {announcement.coordination}")
        return announcement

    if settings.coordination == "classic":
        assert settings.platform_signer, "classic coordination without PLATFORM_SIGNER_ADDRESS"
        announcement = find(lambda record: signed_by(record.raw, record.headers, settings.platform_signer))
        channel = ClassicCoordination(announcement.platform_bootstrap, announcement.control_topic,
                                      announcement.model_id, settings.client_id)
        return announcement, ClassicClient(channel)
    from training_worker.coordination.chain import ChainClient

    coordinator = ChainClient.open(settings)
    return find(lambda record: coordinator.trusts_announcement(record.raw)), coordinator
