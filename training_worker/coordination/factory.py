"""Pick the coordinator a job's settings ask for: the contract or the classic control topic."""

from __future__ import annotations

from kafkaml.schemas import ModelControl
from training_worker.coordination.base import ClientCoordinator, PlatformCoordinator
from training_worker.coordination.classic import ClassicClient, ClassicCoordination, ClassicPlatform
from training_worker.settings import AggregatorSettings, TrainerSettings


def classic_topic(model_id: str) -> str:
    return f"kml-fl-{model_id}"


def platform_coordinator(settings: AggregatorSettings, weights_topic: str) -> PlatformCoordinator:
    if settings.coordination == "classic":
        channel = ClassicCoordination(settings.bootstrap_servers, classic_topic(settings.federated_string_id),
                                      settings.federated_string_id, "aggregator")
        return ClassicPlatform(channel)
    from training_worker.coordination.chain import ChainPlatform

    return ChainPlatform.open_or_deploy(settings, weights_topic)


def client_coordinator(settings: TrainerSettings, announcement: ModelControl) -> ClientCoordinator:
    if announcement.coordination != settings.coordination:
        raise ValueError(f"COORDINATION={settings.coordination} but model {announcement.model_id!r} is "
                         f"coordinated by {announcement.coordination}")
    if settings.coordination == "classic":
        channel = ClassicCoordination(announcement.platform_bootstrap, announcement.control_topic,
                                      announcement.model_id, settings.client_id)
        return ClassicClient(channel)
    from training_worker.coordination.chain import ChainClient

    return ChainClient.open(settings)
