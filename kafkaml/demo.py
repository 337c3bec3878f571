"""``kafkaml demo``: the README's main command — a full local blockchain federated training.

The paper's use case: electric vehicles (federated clients, each with its own Kafka) learn to
recognise wireless technologies (LTE, 5G NR, Wi-Fi, ITS-G5, C-V2X, noise) from IQ samples with
the paper's CNN, coordinated by a contract on a local chain. The local stack comes up, each
vehicle's dataset is streamed into its own broker, the aggregator and one trainer per vehicle run
as jobs, progress shows per round, and the run ends with the accuracy (overall and per SNR) of
the final model on a held-out test set, each client's tokens, the transaction count and gas, and
the command to audit the run. The defaults finish in about ten minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse

from kafkaml.local.train_cli import add_training_arguments, console, print_summary, train_locally


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="a full local blockchain federated training of the paper's use case")
    add_training_arguments(parser, workload="rat", samples=24000, rounds=32, clients=4)
    parser.set_defaults(handler=run, batch=128, epochs=1)


def run(args: argparse.Namespace) -> int:
    result = train_locally(args)
    print_summary(result)
    print_test_accuracy(result)
    return 0


def print_test_accuracy(result: dict) -> None:
    """Accuracy of the final global model on the held-out test set, overall and per SNR bucket."""
    import keras
    import numpy as np
    from rich.table import Table

    from kafkaml.usecases.rat.metrics import accuracy_by_snr

    test = result["workload"].test
    model = keras.models.load_model(result["final"]["model_path"], compile=False)
    predicted = np.argmax(model.predict(test.x, batch_size=512, verbose=0), axis=-1)
    table = Table(title=f"final model on {len(test)} held-out samples")
    table.add_column("SNR (dB)")
    table.add_column("accuracy", justify="right")
    table.add_row("all", f"{np.mean(predicted == test.y):.3f}")
    if test.snr_db is not None:
        for snr, accuracy in accuracy_by_snr(test.y, predicted, test.snr_db).items():
            table.add_row(f"{snr:+.0f}", f"{accuracy:.3f}")
    console().print(table)
