"""``kafkaml k8s client-overlay NAME ...``: write the kustomize overlay of one more federated client.

The overlay's content lives in :mod:`kafkaml.client_overlay` (imported by the handler, so
``--help`` stays light); docs/deploy-kubernetes.md says what to do with the written directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kafkaml.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("k8s", help="Kubernetes manifests: write a federated client's overlay",
                                   description="Kubernetes manifests of the project (kustomize/).")
    commands = parser.add_subparsers(dest="k8s_command", required=True, metavar="ACTION")
    overlay = commands.add_parser(
        "client-overlay", help="write the kustomize overlay of one federated client's namespace",
        description="Write kustomize/federated-client/overlays/NAME (or --out): one data owner's namespace "
                    "over the client base, with the platform's addresses, its NetworkPolicies and the "
                    "*.example files of its Secrets. Then create the secrets and `kubectl apply -k` it.")
    overlay.add_argument("name", help="the client's id (FEDERATED_CLIENT_ID), a DNS label, e.g. vehicle-2")
    overlay.add_argument("--platform-kafka", required=True,
                         help="the platform's Kafka bootstrap, HOST:PORT[,HOST:PORT] (e.g. kafka.kafka-ml.svc:9092)")
    overlay.add_argument("--rpc-url", required=True, help="the chain's JSON-RPC URL (e.g. http://geth.kafka-ml.svc:8545)")
    overlay.add_argument("--chain-id", type=int, required=True, help="the chain id (1337 for the dev Geth)")
    overlay.add_argument("--api-server-cidr", required=True,
                         help="the Kubernetes API server's address as a CIDR, for the federated backend's egress "
                              "(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes)")
    overlay.add_argument("--api-server-port", type=int, default=6443, help="its port (default 6443)")
    where = overlay.add_mutually_exclusive_group()
    where.add_argument("--platform-namespace", default="kafka-ml",
                       help="the platform's namespace in this cluster, for the NetworkPolicy (default kafka-ml)")
    where.add_argument("--platform-cidr", default="",
                       help="instead: the platform's Kafka and chain by address (a platform outside this cluster)")
    overlay.add_argument("--namespace", default="", help="the client's namespace (default kafka-ml-NAME)")
    overlay.add_argument("--token-address", default="", help="the platform's RewardToken (ETH_TOKEN_ADDRESS)")
    overlay.add_argument("--signer-address", default="", help="classic mode: PLATFORM_SIGNER_ADDRESS")
    overlay.add_argument("--wallet-address", default="", help="this client's address (CLIENT_WALLET_ADDRESS)")
    overlay.add_argument("--site-policy", choices=("auto", "approval"), default="auto")
    overlay.add_argument("--out", type=Path, default=None,
                         help="directory to write (default kustomize/federated-client/overlays/NAME)")
    overlay.add_argument("--force", action="store_true", help="replace files that exist")
    overlay.set_defaults(handler=run_client_overlay)


def run_client_overlay(args: argparse.Namespace) -> int:
    from kafkaml.client_overlay import OVERLAYS, ClientOverlay, write

    try:
        spec = ClientOverlay(
            name=args.name, platform_kafka=args.platform_kafka, rpc_url=args.rpc_url, chain_id=args.chain_id,
            api_server_cidr=args.api_server_cidr, api_server_port=args.api_server_port,
            platform_namespace=args.platform_namespace, platform_cidr=args.platform_cidr, namespace=args.namespace,
            token_address=args.token_address, signer_address=args.signer_address,
            wallet_address=args.wallet_address, site_policy=args.site_policy)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out = args.out or OVERLAYS / args.name
    try:
        write(spec, out, force=args.force)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {out} (namespace {spec.namespace}). Next: create its secrets/ from the *.example files, "
          f"then `kubectl apply -k {out}` (docs/deploy-kubernetes.md, 'Add a federated client').")
    return 0
