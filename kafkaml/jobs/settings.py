"""The settings the job launchers read from the environment, declared for ``kafkaml config``.

Kept apart from the launchers so that listing the settings does not import the ``kubernetes``
client.
"""

from __future__ import annotations

from kafkaml.config import Setting, declare

POD_NAMESPACE = Setting(
    "POD_NAMESPACE",
    "Namespace the Kubernetes launcher creates jobs in: set it from the downward API (fieldRef "
    "metadata.namespace). When empty, the namespace of the pod's service account is used.",
    default="",
)

JOB_NAMESPACE = Setting(
    "JOB_NAMESPACE",
    "Namespace the Kubernetes launcher creates jobs and their Secrets in, when not its own: a namespace "
    "of their own keeps the launcher's rights on Secrets away from the service's own Secrets. Empty: "
    "POD_NAMESPACE.",
    default="",
)

JOB_NETWORK = Setting(
    "JOB_NETWORK",
    "Network the Docker launcher attaches job containers to: the one the platform's containers share "
    "(a compose project's network), so jobs reach the broker, the chain and the backend by name and "
    "nothing else.",
    default="kafka-ml",
)

DOCKER_HOST = Setting(
    "DOCKER_HOST",
    "Docker Engine API the Docker launcher uses (read by the docker client): unix:///var/run/docker.sock "
    "for Docker, unix:///run/podman/podman.sock for podman's service. Empty: Docker's default socket.",
    default="",
)

JOBS = declare("Job launchers", POD_NAMESPACE, JOB_NAMESPACE, JOB_NETWORK, DOCKER_HOST)
