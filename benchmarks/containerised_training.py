"""The same small blockchain training through containers and as local processes: its wall time
each way, their ratio, and the platform's start-up from its images.

Containerised: the single-host deployment of docs/deploy-compose.md, as
tests/containers/test_compose_client.py runs it (whose helpers this uses: the platform's compose
project with compose.jobs.yaml and two clients' projects of compose.client.yaml, on podman's
Docker-compatible service; every job a container of the worker image). Local: `kafkaml local up
--clients 2` (the platform backend and each client's services as processes, jobs as forks of a
warm process). Both are driven the same way, through the platform's REST API
(kafkaml.local.services_run, what `kafkaml demo` does), with the same toy workload.

Measured:
* ``containerised_wall_s`` / ``local_wall_s``: from creating the model through the API (its build
  job included) to the training's end as the API reports it; the data is published before, and
  each stack was up and healthy before;
* ``containerised_over_local_wall_time``: their ratio;
* ``platform_startup_s``: `podman-compose up -d` of the platform from its images to a healthy
  API through the UI (the images built before: `make images infra-images`);
* ``local_startup_s``: `kafkaml local up --clients 2` with the platform, to every part healthy.

One run each. Needs root, podman, podman-compose and the six images. Wall times on a shared machine
say little: run it on a quiet one.

    sudo .venv/bin/python benchmarks/containerised_training.py --json out/containerised_training.json
    sudo .venv/bin/python benchmarks/containerised_training.py --quick     # a short check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _report import print_and_write
from _signals import sigterm_exits

from kafkaml.local import services_run
from kafkaml.local import stack as local
from kafkaml.local.train import publish_workload
from kafkaml.workloads import make_workload

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the container tests' harness: the deployment they check is the one measured
from tests.containers import infra  # noqa: E402

CLIENTS = ("vehicle-1", "vehicle-2")
TIMEOUT_S = 1800


def training(args: argparse.Namespace) -> dict:
    return dict(mode="blockchain", rounds=args.rounds, epochs=1, batch=32, strategy="fedasync", strategy_params={})


def containerised(args: argparse.Namespace, workload_args: tuple, work: Path) -> tuple[float, float]:
    """(platform start-up, training wall time) through compose."""
    missing = [tag for tag in [*(image.tag for image in infra.images_module().IMAGES), *infra.TAGS.values()]
               if not infra.images_module().image_exists(tag)]
    if missing:
        raise SystemExit(f"missing images {missing}: build them first (`make images infra-images`, as root)")
    with infra.deployment(work) as deployment:
        startup_s = deployment.up()
        api = deployment.admin()
        deployed = api.post(f"{deployment.url}/api/chain/", timeout=120)
        if not deployed.ok:
            raise SystemExit(f"POST /api/chain/: {deployed.status_code} {deployed.text[:300]}")
        addresses = []
        for client in CLIENTS:
            addresses.append(deployment.add_client(client, deployed.json()["token"]))
            deployment.fund(addresses[-1], 10)
        deployment.publish(workload_args, "bench")
        started = time.monotonic()
        run = services_run.deploy(api, deployment.url, make_workload(*workload_args), addresses, name="bench",
                                  data="bench", **training(args))
        services_run.follow(run, TIMEOUT_S, lambda record: None)
        return startup_s, time.monotonic() - started


def as_processes(args: argparse.Namespace, workload_args: tuple, work: Path) -> tuple[float, float]:
    """(stack start-up, training wall time) on the local stack."""
    started = time.monotonic()
    stack = local.up(len(CLIENTS), work, with_platform=True)
    startup_s = time.monotonic() - started
    try:
        workload = make_workload(*workload_args)
        publish_workload(stack, workload, "bench")
        started = time.monotonic()
        run = services_run.start(stack, workload, name="bench", data="bench", **training(args))
        services_run.follow(run, TIMEOUT_S, lambda record: None)
        return startup_s, time.monotonic() - started
    finally:
        local.down(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="toy samples shared by the two clients")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="600 samples, 2 rounds: checks that it works")
    parser.add_argument("--json", type=Path, default=None, help="write the headline figures here")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.rounds = 600, 2
    workload_args = ("toy", len(CLIENTS), args.samples, 1, "random-split")
    with tempfile.TemporaryDirectory(prefix="kafkaml-bench-") as directory:
        platform_startup_s, containerised_s = containerised(args, workload_args, Path(directory) / "compose")
        local_startup_s, local_s = as_processes(args, workload_args, Path(directory) / "local")
    figures = {
        "containerised_over_local_wall_time": round(containerised_s / local_s, 3),
        "containerised_wall_s": round(containerised_s, 2),
        "local_wall_s": round(local_s, 2),
        "platform_startup_s": round(platform_startup_s, 2),
        "local_startup_s": round(local_startup_s, 2),
        "rounds": args.rounds,
        "samples": args.samples,
        "clients": len(CLIENTS),
        "cpus": os.cpu_count(),
    }
    print_and_write(f"a blockchain training, toy workload, {args.rounds} rounds, {len(CLIENTS)} clients", figures,
                    args.json)


if __name__ == "__main__":
    with sigterm_exits():  # a stopped run still tears its stack down
        main()
