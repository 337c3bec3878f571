"""``kafkaml demo``: the README's main command — a full local blockchain federated training of the
paper's use case, taken the way users take it.

Electric vehicles (federated clients, each with its own Kafka, federated backend and loggers)
learn to recognise wireless technologies (LTE, 5G NR, Wi-Fi, ITS-G5, C-V2X, noise) from IQ samples
with the paper's CNN, coordinated by a contract on a local chain. The local stack comes up with
the platform backend and every client's services; each vehicle's dataset is streamed into its own
broker; the model, configuration and deployment are created through the platform's REST API; the
clients' services match the announcement and start their trainers (:mod:`kafkaml.local.services_run`).
Progress shows per round as the API reports it; then the final model is deployed for inference
through the API and answers a held-out test set streamed to its input topic, and the run ends
with that accuracy (overall and per SNR), each client's tokens, the transactions and gas,
the platform's URL and the command to audit the run. The platform keeps running until
``kafkaml local down``.
"""

from __future__ import annotations

import argparse
import time

from kafkaml.local.train_cli import add_training_arguments, console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="a full local blockchain federated training of the paper's use case")
    add_training_arguments(parser, workload="rat", samples=24000, rounds=32, clients=4)
    parser.set_defaults(handler=run, batch=128, epochs=1)


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kafkaml.local import stack as local
    from kafkaml.local.services_run import follow, infer, start
    from kafkaml.workloads import make_workload

    started = time.monotonic()
    current = local.up(args.clients, with_platform=True)
    console().print(f"local stack ready: platform {current.backend.address}/api/docs/, {args.clients} vehicles with "
                  f"their own broker, federated backend and loggers, chain at {current.chain.address}")
    workload = make_workload(args.workload, args.clients, args.samples, args.seed, args.split)
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    training = start(current, workload, name=name, mode=args.mode, rounds=args.rounds, epochs=args.epochs,
                     batch=args.batch, strategy=args.strategy, strategy_params=args.strategy_params,
                     reward_policy=args.reward_policy)
    console().print(f"deployment created through the REST API: training result {training.result['id']} "
                  f"({args.mode}, {args.strategy}); the vehicles' backends start their trainers")
    with Progress(TextColumn("[bold]rounds"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console()) as progress:
        task = progress.add_task("rounds", total=args.rounds, status="waiting for the first update")

        def on_round(record: dict) -> None:
            accuracy = record.get("val_accuracy")
            status = f"v{record['version']} val_loss {record['val_loss']:.4f}" + (
                f" acc {accuracy:.3f}" if accuracy is not None else "")
            progress.update(task, completed=record["version"], status=status)

        result = follow(training, args.timeout, on_round)
    print_summary(training, result, time.monotonic() - started)
    predicted = infer(training, workload.test.x, timeout_s=600)
    console().print(f"the final model, deployed for inference through the REST API, answered the {len(predicted)} "
                    "held-out samples streamed to its input topic (then the inference was stopped)")
    print_test_accuracy(predicted, workload)
    console().print(f"the platform keeps running: web UI {training.url}/trainings/{training.result['id']} "
                  f"(this training, live and audited), REST API {training.url}/api/docs/ (credentials in "
                  f"{current.run_dir / 'platform-admin.json'}); stop everything with: .venv/bin/kafkaml local down")
    return 0


def print_summary(training, result: dict, seconds: float) -> None:
    from rich.table import Table

    from kafkaml.local.train_cli import chain_usage

    current = training.stack
    table = Table(title=f"training {result['federated_id']} (result {result['id']})")
    table.add_column("what")
    table.add_column("value")
    final = result["final"] or {}
    metrics = final.get("metrics", {})
    table.add_row("global versions", str(final.get("versions")))
    table.add_row("validation loss / accuracy", f"{metrics.get('val_loss'):.4f} / {metrics.get('val_accuracy'):.3f}")
    table.add_row("final model SHA-256", str(result.get("model_sha256")))
    if result.get("contract_address"):
        chain = training.get(f"results/{result['id']}/chain/")
        names = {account.address: account.role for account in current.accounts}
        for client in chain["clients"]:
            table.add_row(f"tokens of {names.get(client['client'], client['client'])}",
                          f"{int(client['balance']) / 10**18:.6f}")
        usage = chain_usage(current, result["contract_address"])
        table.add_row("transactions / total gas", f"{usage['transactions']} / {usage['gas']:,}")
        table.add_row("contract", result["contract_address"])
    table.add_row("wall time", f"{seconds:.1f} s")
    console().print(table)
    if result.get("contract_address"):
        platform = training.get("chain/")  # the factory and token an auditor expects of this platform
        console().print(f"audit this run: [bold].venv/bin/kafkaml audit {result['contract_address']} --token "
                      f"{platform['token']} --factory {platform['factory']} --rpc-url {current.chain.address} "
                      f"--kafka {current.bootstrap('platform')} --recompute[/bold]")


def print_test_accuracy(predicted, workload) -> None:
    """Accuracy of the final global model on the held-out test set, overall and per SNR bucket, from
    the classes its inference deployment answered."""
    import numpy as np
    from rich.table import Table

    from kafkaml.usecases.rat.metrics import accuracy_by_snr

    test = workload.test
    table = Table(title=f"final model on {len(test)} held-out samples")
    table.add_column("SNR (dB)")
    table.add_column("accuracy", justify="right")
    table.add_row("all", f"{np.mean(predicted == test.y):.3f}")
    if test.snr_db is not None:
        for snr, accuracy in accuracy_by_snr(test.y, predicted, test.snr_db).items():
            table.add_row(f"{snr:+.0f}", f"{accuracy:.3f}")
    console().print(table)
