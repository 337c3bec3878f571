"""``kafkaml dataset rat``: stream a generated technology-recognition dataset into a Kafka.

One call per client (``--client-index i --clients n --mode ...``) puts that client's share of
the dataset of ``--samples``/``--seed`` into the client's broker as one RAW datasource, with each
sample's SNR in the side table (see :mod:`publish`). ``--validation`` instead publishes a
platform validation set of separate streams (optionally on an SNR grid for per-SNR curves).
Every argument is checked before anything is generated or sent.
"""

from __future__ import annotations

import argparse
import uuid

from kafkaml.cli import UserError
from kafkaml.usecases.rat.names import CLASSES, DEFAULT_SNR_RANGE, DEFAULT_WINDOW, MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    dataset = subparsers.add_parser("dataset", help="put example datasets into a Kafka")
    kinds = dataset.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    parser = kinds.add_parser("rat", help="wireless technology recognition IQ windows (LTE, 5G NR, Wi-Fi, "
                                          "ITS-G5, C-V2X PC5, noise)", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the client's (or platform's) Kafka")
    parser.add_argument("--client-index", type=int, default=1, help="this client, counted from 1 (default 1)")
    parser.add_argument("--clients", type=int, default=1, help="number of federated clients (default 1)")
    parser.add_argument("--mode", choices=MODES, default="full-copy",
                        help="full-copy: all clients get the whole dataset; random-split: disjoint random "
                             "shares; by-technology: non-IID shares by class (default full-copy)")
    parser.add_argument("--samples", type=int, default=6000, help="windows in the whole dataset (default 6000)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed, the same for every client (default 0)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help=f"samples per window = FFT length (default {DEFAULT_WINDOW})")
    parser.add_argument("--snr-min", type=float, default=DEFAULT_SNR_RANGE[0], help="lowest SNR in dB (default -10)")
    parser.add_argument("--snr-max", type=float, default=DEFAULT_SNR_RANGE[1], help="highest SNR in dB (default 30)")
    parser.add_argument("--snr-grid", default=None,
                        help="comma-separated SNRs in dB to draw from instead of the uniform range")
    parser.add_argument("--classes", default=None, help=f"comma-separated subset of {','.join(CLASSES)}")
    parser.add_argument("--validation", action="store_true",
                        help="publish a platform validation set (separate streams) instead of a client share")
    parser.add_argument("--topic", default=None, help="data topic (default rat-<client|validation>-<id>)")
    parser.add_argument("--datasource-id", default=None, help="datasource id (default: a fresh uuid)")
    parser.add_argument("--federated-string-id", default="rat", help="matching id for federated training")
    parser.add_argument("--validation-rate", type=float, default=0.0, help="share kept as validation split")
    parser.add_argument("--test-rate", type=float, default=0.0, help="share kept as test split")
    parser.set_defaults(handler=run)


def _grid(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"--snr-grid must be comma-separated numbers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np  # the generator (numpy, scipy) and Kafka only when a dataset is made

    from kafkaml.usecases.rat.generator import check_snr, class_indices
    from kafkaml.usecases.rat.partition import check_client, client_classes, client_dataset
    from kafkaml.usecases.rat.preprocess import validation_set
    from kafkaml.usecases.rat.publish import SNR_TOPIC, publish

    try:
        grid = _grid(args.snr_grid)
        check_snr((args.snr_min, args.snr_max), grid)
        classes = None if args.classes is None else args.classes.split(",")
        class_indices(classes)
        check_client(args.client_index, args.clients)
        if args.validation and (args.clients != 1 or args.mode != "full-copy"):
            raise ValueError("--validation publishes the platform's own set: leave --clients and --mode out")
        if args.samples < 1:
            raise ValueError(f"--samples must be positive, got {args.samples}")
        options = {"classes": classes, "window": args.window, "snr_range": (args.snr_min, args.snr_max),
                   "snr_grid": grid}
        if args.validation:
            data = validation_set(args.samples, args.seed, **options)
            who = "validation"
        else:
            data = client_dataset(args.samples, args.seed, args.mode, args.client_index, args.clients, **options)
            who = f"client{args.client_index}"
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if len(data) == 0:
        raise UserError(f"client {args.client_index} of {args.clients} gets no samples in {args.mode} mode; "
                        "raise --samples")
    datasource_id = args.datasource_id or uuid.uuid4().hex
    topic = args.topic or f"rat-{who}-{datasource_id[:12]}"
    description = (f"RAT {who}: {args.mode} share {args.client_index}/{args.clients} of {args.samples} "
                   f"windows, seed {args.seed}" if not args.validation
                   else f"RAT platform validation set: {args.samples} windows, seed {args.seed}")
    try:
        control = publish(args.bootstrap, data, topic=topic, datasource_id=datasource_id,
                          federated_string_id=args.federated_string_id, description=description,
                          validation_rate=args.validation_rate, test_rate=args.test_rate, seed=args.seed)
    except ValueError as exc:  # sink, sample and topic errors: nothing was announced
        raise UserError(f"nothing published: {exc}") from None
    counts = np.bincount(data.y, minlength=len(CLASSES))
    print(f"published {len(data)} windows of {args.window} samples to {topic} on {args.bootstrap}")
    print(f"datasource {control.datasource_id}: train {control.count('train')}, "
          f"validation {control.count('validation')}, test {control.count('test')}")
    print("classes: " + ", ".join(f"{name} {count}" for name, count in zip(CLASSES, counts, strict=True)))
    if args.mode == "by-technology" and not args.validation:
        print("this client's technologies: "
              + ", ".join(CLASSES[c] for c in client_classes(args.client_index, args.clients)))
    print(f"SNR {data.snr_db.min():.1f}..{data.snr_db.max():.1f} dB per sample in the side table {SNR_TOPIC}")
    return 0
