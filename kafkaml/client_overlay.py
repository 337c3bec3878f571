"""A federated client's kustomize overlay, written from a few facts: the client's name, where the
platform's Kafka and chain are, and where the Kubernetes API server is.

Adding a data owner is one overlay over ``kustomize/federated-client/base``; this module is the
one place that knows what such an overlay holds, so the committed example
(``overlays/example-vehicle-1``) is its output (a test compares them) and ``kafkaml k8s
client-overlay`` writes the next one. Only text is produced here (no YAML library, nothing
heavy): every value is checked first, so nothing needs quoting.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

#: The kustomize tree of the repository this package belongs to.
KUSTOMIZE = Path(__file__).resolve().parents[1] / "kustomize"
CLIENT_BASE = KUSTOMIZE / "federated-client" / "base"
OVERLAYS = KUSTOMIZE / "federated-client" / "overlays"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:(\d{1,5})")
_ADDRESS = re.compile(r"(0x[0-9a-fA-F]{40})?")
#: The secret files an overlay's secretGenerator reads (each with a committed ``.example``).
SECRET_EXAMPLES = {
    "backend-secret-key": "change-me-to-50-random-characters-for-example-from-secrets.token_urlsafe\n",
    "logger-token": "replace-with-40-hex-digits-from-openssl-rand-hex-20\n",
    "wallet-key": "replace-with-this-client-wallet-private-key-0x-and-64-hex-digits\n",
}


@dataclass(frozen=True)
class ClientOverlay:
    """What differs from one client to the next. ``platform_namespace`` and ``platform_cidr``
    are the two ways the NetworkPolicy names the platform: exactly one is used (the CIDR when
    given: a platform outside this cluster)."""

    name: str
    platform_kafka: str
    rpc_url: str
    chain_id: int
    api_server_cidr: str
    api_server_port: int = 6443
    platform_namespace: str = "kafka-ml"
    platform_cidr: str = ""
    namespace: str = ""
    token_address: str = ""
    signer_address: str = ""
    wallet_address: str = ""
    site_policy: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", self.namespace or f"kafka-ml-{self.name}")
        for what, value in (("client name", self.name), ("namespace", self.namespace),
                            ("platform namespace", self.platform_namespace)):
            if not _DNS_LABEL.fullmatch(value):
                raise ValueError(f"{what} {value!r} must be a DNS label (lower-case letters, digits, '-', <= 63)")
        if not self.kafka_ports:
            raise ValueError(f"platform Kafka {self.platform_kafka!r} must be HOST:PORT[,HOST:PORT...]")
        parsed = urlparse(self.rpc_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"RPC URL {self.rpc_url!r} must be http(s)://HOST[:PORT]")
        for cidr in filter(None, (self.api_server_cidr, self.platform_cidr)):
            ipaddress.ip_network(cidr)  # ValueError names the bad value
        if not self.api_server_cidr:
            raise ValueError("the API server's CIDR is required (kubectl get endpointslices -n default "
                             "-l kubernetes.io/service-name=kubernetes)")
        if self.chain_id < 1 or not 0 < self.api_server_port < 65536:
            raise ValueError("chain id must be at least 1 and the API server port 1-65535")
        for what, value in (("token", self.token_address), ("signer", self.signer_address),
                            ("wallet", self.wallet_address)):
            if not _ADDRESS.fullmatch(value):
                raise ValueError(f"{what} address {value!r} must be 0x and 40 hex digits")
        if self.site_policy not in ("auto", "approval"):
            raise ValueError("site policy must be auto or approval")

    @property
    def kafka_ports(self) -> list[int]:
        matches = [_HOST_PORT.fullmatch(part.strip()) for part in self.platform_kafka.split(",")]
        if not all(matches):
            return []
        return sorted({int(match.group(1)) for match in matches if match})

    @property
    def rpc_port(self) -> int:
        parsed = urlparse(self.rpc_url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)


def files(overlay: ClientOverlay, out: Path) -> dict[str, str]:
    """The overlay's files (path relative to ``out`` → text), its base found from ``out``."""
    base = Path(os.path.relpath(CLIENT_BASE, out.resolve())).as_posix()
    written = {
        "kustomization.yaml": _KUSTOMIZATION.format(o=overlay, base=base),
        "namespace.yaml": _NAMESPACE.format(o=overlay),
        "settings.env": _SETTINGS.format(o=overlay),
        "network-platform.yaml": _network_platform(overlay),
        "network-api-server.yaml": _NETWORK_API.format(o=overlay),
        "job-image-tag.yaml": _JOB_IMAGE_TAG,
        ".gitignore": "# The Secret files: created from the *.example files, never committed.\n"
                      "/secrets/*\n!/secrets/*.example\n",
    }
    written |= {f"secrets/{name}.example": text for name, text in SECRET_EXAMPLES.items()}
    return written


def write(overlay: ClientOverlay, out: Path, *, force: bool = False) -> list[Path]:
    """Write the overlay into ``out``; an existing file is kept unless ``force`` (then replaced)."""
    if not CLIENT_BASE.is_dir():
        raise FileNotFoundError(f"{CLIENT_BASE}: the client base is not here (run from the repository)")
    contents = files(overlay, out)
    existing = [name for name in contents if (out / name).exists()]
    if existing and not force:
        raise FileExistsError(f"{out}: {', '.join(existing)} exist already (use --force to replace them)")
    paths = []
    for name, text in contents.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def _network_platform(o: ClientOverlay) -> str:
    ports = {"kafka": o.kafka_ports, "geth": [o.rpc_port]}
    if o.platform_cidr:
        every = sorted(set(ports["kafka"]) | set(ports["geth"]))
        rules = _RULE.format(to=f"        - ipBlock:\n            cidr: {o.platform_cidr}\n", ports=_ports(every))
        how = f"by address: {o.platform_cidr} (a platform outside this cluster)"
    else:
        rules = "".join(_RULE.format(to=_BY_NAMESPACE.format(namespace=o.platform_namespace, app=app),
                                     ports=_ports(ports[app])) for app in ("kafka", "geth"))
        how = f"by namespace: the pods of Kafka and Geth in {o.platform_namespace}"
    return _NETWORK_PLATFORM.format(how=how, rules=rules)


def _ports(ports: list[int]) -> str:
    return "".join(f"        - {{protocol: TCP, port: {port}}}\n" for port in ports)


_KUSTOMIZATION = """\
# The federated client {o.name} in its namespace {o.namespace}. Written by `kafkaml k8s
# client-overlay` (kafkaml/client_overlay.py); another client: run it again with another name, or
# copy this directory and change the name here, in namespace.yaml and in settings.env. Create the
# files under secrets/ from the *.example files first (docs/deploy-kubernetes.md); they are never
# committed.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

namespace: {o.namespace}

labels:
  - pairs:
      app.kubernetes.io/part-of: kafka-ml
      kafka-ml/client: {o.name}
    includeSelectors: false

resources:
  - namespace.yaml
  - {base}

configMapGenerator:
  - name: kafka-ml-client-settings
    behavior: merge
    envs:
      - settings.env

secretGenerator:
  - name: kafka-ml-client-keys
    files:
      - backend-secret-key=secrets/backend-secret-key
      - logger-token=secrets/logger-token
  # CLIENT_WALLET_SECRET names this Secret in every trainer Job the backend launches, so its name
  # carries no hash (a changed key is read by the next trainer; nothing needs to roll).
  - name: kafka-ml-client-wallet
    options:
      disableNameSuffixHash: true
    files:
      - key=secrets/wallet-key

patches:
  - path: network-platform.yaml
  - path: network-api-server.yaml

replacements:
  - path: job-image-tag.yaml
"""

_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {o.namespace}
  labels:
    # The cluster's Pod Security Admission enforces what every pod here declares.
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: v1.32
"""

_SETTINGS = """\
FEDERATED_CLIENT_ID={o.name}
KML_CLOUD_BOOTSTRAP_SERVERS={o.platform_kafka}
ETH_RPC_URL={o.rpc_url}
ETH_CHAIN_ID={o.chain_id}
ETH_TOKEN_ADDRESS={o.token_address}
PLATFORM_SIGNER_ADDRESS={o.signer_address}
CLIENT_WALLET_ADDRESS={o.wallet_address}
SITE_POLICY={o.site_policy}
"""

_NETWORK_PLATFORM = """\
# Where this client reaches the platform's Kafka and chain:
# {how}.
# The ports are those of KML_CLOUD_BOOTSTRAP_SERVERS and ETH_RPC_URL (settings.env); every broker
# the platform's Kafka advertises must be covered too.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-platform
spec:
  egress:
{rules}"""

_RULE = """\
    - to:
{to}      ports:
{ports}"""

_BY_NAMESPACE = """\
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {namespace}
          podSelector:
            matchLabels:
              app.kubernetes.io/name: {app}
"""

_NETWORK_API = """\
# Where the federated backend reaches the Kubernetes API server (it launches the trainer Jobs):
# the endpoints of the `kubernetes` Service, as pods see them after the Service's translation:
#   kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-kubernetes-api
spec:
  egress:
    - to:
        - ipBlock:
            cidr: {o.api_server_cidr}
      ports:
        - {{protocol: TCP, port: {o.api_server_port}}}
"""

_JOB_IMAGE_TAG = """\
# JOB_IMAGE is a setting, not a container field, so `images:` cannot reach it: this copies the tag
# of the services' image (after this overlay's `images:`, if you add one) into JOB_IMAGE, so the
# trainers always run the worker image of the same release. Replacements in the base would run
# before the overlay's `images:`, hence here.
- source:
    kind: Deployment
    name: kafka-ml-federated-backend
    fieldPath: spec.template.spec.containers.[name=federated-backend].image
    options:
      delimiter: ':'
      index: 1
  targets:
  - select:
      kind: ConfigMap
      name: kafka-ml-client-settings
    fieldPaths:
    - data.JOB_IMAGE
    options:
      delimiter: ':'
      index: 1
"""
