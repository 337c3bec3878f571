"""``kafkaml platform ...``: the platform backend's REST API from the shell, so scripts need no browser.

Create a model from a file, group models into a configuration, deploy it, follow its rounds as
they are recorded, download the final model (its SHA-256 checked) and stop a training; deploy a
finished training's model for inference on Kafka topics, list, stop and delete inferences. The
backend is ``--url``, else ``KAFKAML_PLATFORM_URL``, else the running local stack's; the API token
is ``--token``/``--token-file``, else ``KAFKAML_PLATFORM_TOKEN_FILE``, else the local stack's first
administrator's (``platform-admin.json``). Every failure is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafkaml.cli import UserError
from kafkaml.config import Setting, declare
from kafkaml.rewards import POLICIES

if TYPE_CHECKING:  # requests and rich are imported by the handlers: `--help` stays light
    from rich.console import Console

    from kafkaml.cli.platform_client import PlatformClient

SETTINGS = declare(
    "Platform CLI (kafkaml platform)",
    Setting("KAFKAML_PLATFORM_URL", "Base URL of the platform backend for `kafkaml platform` (e.g. "
            "https://kafkaml.example.org); empty: the running local stack's backend. `--url` wins.", default=""),
    Setting("KAFKAML_PLATFORM_TOKEN_FILE", "File holding the API token `kafkaml platform` sends (the token alone, "
            "or a JSON object with a `token` key such as the local stack's platform-admin.json); unset: the local "
            "stack's first administrator's. `--token`/`--token-file` win.", kind="path", default=None),
)
STATUSES = ("created", "running", "finished", "failed", "stopped")
POLL_S, MAX_POLL_S, OUTAGE_S = 0.5, 5.0, 120.0


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)  # lines whole (logs, grep); tables fit the width


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("platform", help="models, deployments and results through the platform's REST API",
                                   description="The platform backend's REST API from the shell: models, "
                                   "configurations, deployments, rounds, final models.")
    _connection_options(parser, None)
    resources = parser.add_subparsers(dest="resource", required=True, metavar="RESOURCE")

    def leaf(group: argparse._SubParsersAction, name: str, help_: str, handler) -> argparse.ArgumentParser:
        command = group.add_parser(name, help=help_, description=help_)
        _connection_options(command, argparse.SUPPRESS)  # accepted after the command too
        command.set_defaults(handler=handler)
        return command

    models = resources.add_parser("models", help="Keras models").add_subparsers(dest="action", required=True,
                                                                                metavar="ACTION")
    create = leaf(models, "create", "store a model from a Python file of Keras source and wait for its build",
                  run_model_create)
    create.add_argument("name")
    create.add_argument("file", type=Path, help="the model's Keras source (imports + code defining `model`)")
    create.add_argument("--description", default="")
    leaf(models, "list", "your models", run_model_list)

    configurations = resources.add_parser("configurations", help="named sets of models").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    configuration = leaf(configurations, "create", "group models into a configuration to deploy",
                         run_configuration_create)
    configuration.add_argument("name")
    configuration.add_argument("model_ids", nargs="+", type=int, metavar="MODEL_ID")
    configuration.add_argument("--description", default="")

    datasources = resources.add_parser("datasources", help="registered datasources").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    leaf(datasources, "list", "every registered datasource (validation set candidates)", run_datasource_list)

    deploy = leaf(resources, "deploy", "train every model of a configuration: federated, single or incremental",
                  run_deploy)
    deploy.add_argument("configuration", type=int, metavar="CONFIGURATION_ID")
    deploy.add_argument("--kind", choices=("federated", "single", "incremental"), default="federated",
                        help="federated (default): clients train, the platform aggregates; single: the platform "
                             "trains on --validation-datasource's splits; incremental: single, then on the records "
                             "that arrive after them")
    deploy.add_argument("--validation-datasource", type=int, required=True, metavar="ID",
                        help="id of the datasource the platform validates (and rewards) with; single and "
                             "incremental: the datasource trained on")
    deploy.add_argument("--coordination", choices=("blockchain", "classic"), default="blockchain")
    deploy.add_argument("--rounds", type=int, default=10, help="global versions to produce (default 10)")
    deploy.add_argument("--epochs", type=int, default=1, help="local epochs per update (default 1)")
    deploy.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    deploy.add_argument("--strategy", default="fedasync",
                        help="aggregation strategy (default fedasync); mix is the paper's Algorithm 1 (weightsAverage)")
    deploy.add_argument("--reward-policy", choices=POLICIES, default="improvement",
                        help="how measured improvements become tokens (default improvement); tiered is the paper's "
                             "fixed tiers by loss ratio")
    deploy.add_argument("--exclude-after", type=int, default=0, metavar="N",
                        help="exclude a client after N rejected updates: its later ones are rejected unread "
                             "(default 0: never)")
    deploy.add_argument("--strategy-params", type=_json_object, default={}, metavar="JSON",
                        help='parameters of the strategy, e.g. \'{"updates": 2}\'')
    deploy.add_argument("--client", dest="clients", action="append", type=_client, default=[],
                        metavar="IDENTITY=CEILING", help="a matched client (0x address, or client id in classic "
                        "mode) and the sample count it matched; repeat per client")
    deploy.add_argument("--reward-budget", default="", metavar="TOKENS",
                        help="most tokens the training may credit (default: reward base × rounds)")
    incremental = deploy.add_argument_group("incremental trainings")
    incremental.add_argument("--stream-timeout", type=float, default=0.0, metavar="SECONDS",
                             help="end after this long without a new record (default 0: run until stopped)")
    incremental.add_argument("--window", type=int, default=1000, help="records per increment (default 1000)")
    incremental.add_argument("--monitor-metric", default="val_loss",
                             help="validation metric deciding whether a new version is served (default val_loss)")
    incremental.add_argument("--monitor-mode", choices=("min", "max"), default="min",
                             help="whether the metric improves going down (default) or up")
    incremental.add_argument("--improvement", type=float, default=0.0,
                             help="how much it must improve on the served version's (default 0)")
    deploy.add_argument("--follow", action="store_true", help="then follow the rounds until the training ends")

    results = resources.add_parser("results", help="training results").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = leaf(results, "list", "your training results", run_result_list)
    listing.add_argument("--status", choices=STATUSES)
    follow = leaf(results, "follow", "print each round as it is recorded until the training ends "
                  "(exit 0 only when it finished)", run_result_follow)
    follow.add_argument("result", type=int, metavar="RESULT_ID")
    follow.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit 1)")
    download = leaf(results, "download", "download the final model (.keras) and check its SHA-256",
                    run_result_download)
    download.add_argument("result", type=int, metavar="RESULT_ID")
    download.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: the server's "
                          "file name in the current directory)")
    stop = leaf(results, "stop", "stop a training (its jobs are deleted)", run_result_stop)
    stop.add_argument("result", type=int, metavar="RESULT_ID")

    infer = leaf(resources, "infer", "serve a finished training's model: samples from a topic, predictions to "
                 "another", run_infer)
    infer.add_argument("result", type=int, metavar="RESULT_ID")
    infer.add_argument("--input-format", choices=("RAW", "AVRO"), default="RAW", help="default RAW")
    infer.add_argument("--input-config", type=_json_object, required=True, metavar="JSON",
                       help='what one sample is, e.g. \'{"data_type": "float32", "data_reshape": [8]}\' (RAW) or '
                            '\'{"data_scheme": {...}}\' (AVRO)')
    infer.add_argument("--input-topic", required=True, help="topic the samples arrive on")
    infer.add_argument("--output-topic", required=True, help="topic the predictions go to (with each sample's key)")
    infer.add_argument("--error-topic", default=None, help="where bad records are answered with the reason "
                       "(default <output topic>-errors)")
    infer.add_argument("--replicas", type=int, default=1, help="workers sharing the input's partitions (default 1)")
    infer.add_argument("--bootstrap-servers", default="", metavar="HOST:PORT,...",
                       help="the Kafka of the topics (default: the platform's)")
    infer.add_argument("--batch", type=int, default=None, help="samples predicted at once (default: the worker's)")

    inferences = resources.add_parser("inferences", help="inference deployments").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    leaf(inferences, "list", "your inference deployments", run_inference_list)
    for action, help_, handler in (("show", "one inference deployment", run_inference_show),
                                   ("stop", "stop an inference (its workers are deleted)", run_inference_stop),
                                   ("rollout", "serve the training's newest model (an incremental training's new "
                                               "version); no sample is lost or answered twice", run_inference_rollout),
                                   ("delete", "delete a stopped or failed inference", run_inference_delete)):
        leaf(inferences, action, help_, handler).add_argument("inference", type=int, metavar="INFERENCE_ID")


def _connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("backend and output")
    group.add_argument("--url", default=default, help="platform backend (default: $KAFKAML_PLATFORM_URL, else the "
                        "local stack's)")
    group.add_argument("--token", default=default, help="API token (visible to other local users in the process "
                        "list: prefer --token-file)")
    group.add_argument("--token-file", type=Path, default=default,
                        help="file with the API token (default: $KAFKAML_PLATFORM_TOKEN_FILE, else the local "
                        "stack's platform-admin.json)")
    group.add_argument("--run-dir", type=Path, default=default, help="local stack to fall back on (default: "
                        "$KAFKAML_RUN_DIR)")
    group.add_argument("--json", action="store_true", default=default, help="print the API's JSON instead")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _client(text: str) -> dict:
    identity, _, ceiling = text.rpartition("=")
    if not identity or not ceiling.isdigit():
        raise argparse.ArgumentTypeError(f"expected IDENTITY=SAMPLES, got {text!r}")
    return {"identity": identity, "sample_ceiling": int(ceiling)}


# where the backend is and who we are
def connect(args: argparse.Namespace) -> PlatformClient:
    from kafkaml.cli.platform_client import PlatformClient

    values = SETTINGS.load()
    url = args.url or values["KAFKAML_PLATFORM_URL"]
    if not url:
        url = _local_backend(args.run_dir)
    return PlatformClient(url, _token(args, values["KAFKAML_PLATFORM_TOKEN_FILE"]))


def _local_backend(run_dir: Path | None) -> str:
    from kafkaml.local import stack

    current = stack.load(run_dir)
    if current is None or current.backend is None:
        where = run_dir or stack.default_run_dir()
        raise UserError(f"no platform backend given and no local one running (run dir {where}): pass --url, set "
                        "KAFKAML_PLATFORM_URL, or start the local stack with 'kafkaml local up'")
    return current.backend.address


def _token(args: argparse.Namespace, configured: Path | None) -> str:
    token = args.token.strip() if args.token else _token_from_file(args, configured)
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise UserError("the API token is not one (expected printable ASCII without spaces); its value is not shown")
    return token


def _token_from_file(args: argparse.Namespace, configured: Path | None) -> str:
    path = args.token_file or configured
    if path is None:
        from kafkaml.local import platform, stack

        path = (args.run_dir or stack.default_run_dir()) / platform.ADMIN_FILE
        if not path.exists():
            raise UserError(f"no API token: pass --token-file, set KAFKAML_PLATFORM_TOKEN_FILE, or start the local "
                            f"stack with 'kafkaml local up' (it writes {path})")
    try:
        text = Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise UserError(f"cannot read the API token file {path}: {exc.strerror}") from None
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["token"])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path} is JSON without a 'token' key") from None
    if not text:
        raise UserError(f"the API token file {path} is empty")
    return text


def _json_out(args: argparse.Namespace, data: Any) -> bool:
    if args.json:
        print(json.dumps(data, indent=2))
    return bool(args.json)


def _table(title: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in row))
    console().print(table)


# handlers
def run_model_create(args: argparse.Namespace) -> int:
    try:
        source = args.file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the model source {args.file}: {exc}") from None
    model = connect(args).create_model(args.name, source, args.description)
    if _json_out(args, model):
        return 0
    console().print(f"model {model['id']} {model['name']!r}: {model['parameters']:,} parameters, input "
                    f"{_shape(model['input_shape'])} → output {_shape(model['output_shape'])}")
    _table("layers", ("layer", "class", "output shape", "parameters"),
           [(layer["name"], layer["class_name"], _shape(layer["output_shape"]), f"{layer['parameters']:,}")
            for layer in model["layers"]])
    return 0


def run_model_list(args: argparse.Namespace) -> int:
    models = connect(args).models()
    if not _json_out(args, models):
        _table(f"{len(models)} model(s)", ("id", "name", "status", "parameters", "input", "output", "created"),
               [(m["id"], m["name"], m["status"], None if m["parameters"] is None else f"{m['parameters']:,}",
                 _shape(m["input_shape"]), _shape(m["output_shape"]), m["created_at"][:19]) for m in models])
    return 0


def run_configuration_create(args: argparse.Namespace) -> int:
    configuration = connect(args).create_configuration(args.name, args.model_ids, args.description)
    if not _json_out(args, configuration):
        console().print(f"configuration {configuration['id']} {configuration['name']!r}: models "
                        f"{', '.join(map(str, configuration['ml_models']))}")
    return 0


def run_datasource_list(args: argparse.Namespace) -> int:
    datasources = connect(args).datasources()
    if not _json_out(args, datasources):
        _table(f"{len(datasources)} datasource(s)", ("id", "datasource id", "topic", "format", "counts", "description"),
               [(d["id"], d["datasource_id"], d["topic"], d["format"],
                 ", ".join(f"{k} {v}" for k, v in (d["counts"] or {}).items()), d["description"])
                for d in datasources])
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    client = connect(args)
    # Clients go with every kind: the API refuses them for a single training rather than ignore them.
    body = {"configuration": args.configuration, "kind": args.kind, "validation_datasource": args.validation_datasource,
            "epochs": args.epochs, "batch": args.batch, "clients": args.clients}
    if args.kind == "federated":
        body.update({"coordination": args.coordination, "rounds": args.rounds, "strategy": args.strategy,
                     "strategy_params": args.strategy_params, "reward_policy": args.reward_policy,
                     "exclude_after": args.exclude_after, "reward_budget": args.reward_budget})
    elif args.kind == "incremental":
        body.update({"stream_timeout_s": args.stream_timeout, "window": args.window,
                     "monitor_metric": args.monitor_metric, "monitor_mode": args.monitor_mode,
                     "improvement": args.improvement})
    deployment = client.deploy(body)
    if not _json_out(args, deployment):
        console().print(f"deployment {deployment['id']} ({deployment['coordination'] or deployment['kind']}): "
                        f"training result(s) {', '.join(map(str, deployment['results']))}")
    if not args.follow:
        return 0
    return max((follow(client, result_id) for result_id in deployment["results"]), default=0)


def run_result_list(args: argparse.Namespace) -> int:
    results = connect(args).results(args.status)
    if not _json_out(args, results):
        _table(f"{len(results)} training result(s)", ("id", "deployment", "model", "status", "rounds", "contract",
                                                        "created"),
               [(r["id"], r["deployment"], r["model_name"], r["status"], r["rounds_done"], r["contract_address"],
                 r["created_at"][:19]) for r in results])
    return 0


def run_result_follow(args: argparse.Namespace) -> int:
    return follow(connect(args), args.result, timeout_s=args.timeout, as_json=bool(args.json))


def follow(client: PlatformClient, result_id: int, *, timeout_s: float | None = None, as_json: bool = False) -> int:
    """Print each new round until the result is no longer created/running; 0 only when it finished.
    Polls with back-off (0.5 s after news, doubling to 5 s while nothing changes) and rides out a
    backend that is briefly away (restarting, 5xx) for up to OUTAGE_S."""
    from kafkaml.cli.platform_client import RUNNING, PlatformError

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last, delay, outage, result = 0, POLL_S, None, client.result(result_id)
    if not as_json:
        console().print(f"following training result {result_id} ({result['model_name']}): {result['status']}")
    while True:
        try:
            result = client.result(result_id)  # the status first: rounds read after it include every last one
            rounds = client.rounds(result_id, after=last)
        except PlatformError as exc:
            if exc.status is not None and exc.status < 500 or outage and time.monotonic() - outage > OUTAGE_S:
                raise
            if outage is None:
                outage = time.monotonic()
                print(f"warning: {exc}; retrying for up to {OUTAGE_S:g} s", file=sys.stderr)
            delay = min(delay * 2, MAX_POLL_S)
            time.sleep(delay)
            continue
        outage = None
        for record in rounds:
            if as_json:
                print(json.dumps(record))
            else:
                console().print(_round_line(record))
            last = max(last, record["version"])
        if result["status"] not in RUNNING:
            break
        if deadline is not None and time.monotonic() > deadline:
            print(f"result {result_id} still {result['status']} after {timeout_s:g} s", file=sys.stderr)
            return 1
        delay = POLL_S if rounds else min(delay * 2, MAX_POLL_S)
        time.sleep(delay)
    if as_json:
        print(json.dumps(result))
    else:
        _print_end(result)
    return 0 if result["status"] == "finished" else 1


def _round_line(record: dict) -> str:
    contributions = record.get("contributions") or []
    accepted = sum(1 for c in contributions if c.get("accepted"))
    line = (f"round [bold]{record['version']}[/bold]  val_loss {_number(record.get('val_loss'))}  "
            f"val_accuracy {_number(record.get('val_accuracy'), 3)}  updates {accepted} accepted")
    if len(contributions) > accepted:
        reasons = sorted({c.get("reason") or "?" for c in contributions if not c.get("accepted")})
        line += f", [red]{len(contributions) - accepted} rejected ({', '.join(reasons)})[/red]"
    transaction = record.get("transaction")
    if transaction:
        line += f"  gas {transaction.get('gas', 0):,}  tx {str(transaction.get('hash', ''))[:12]}…"
    return line + f"  at {record.get('elapsed_s', 0):.1f} s"


def _print_end(result: dict) -> None:
    colour = {"finished": "green", "failed": "red", "stopped": "yellow"}.get(result["status"], "white")
    console().print(f"training result {result['id']} [{colour}]{result['status']}[/{colour}] after "
                    f"{result.get('rounds_done') or 0} round(s)")
    metrics = (result.get("final") or {}).get("metrics") or {}
    if metrics:
        console().print("final metrics: " + ", ".join(f"{k} {_number(v)}" for k, v in sorted(metrics.items())))
    if result.get("model_sha256"):
        print(f"final model SHA-256 {result['model_sha256']}: kafkaml platform results download {result['id']}")
    if result.get("error"):
        print(f"error: {result['error']}")


def run_result_download(args: argparse.Namespace) -> int:
    download = connect(args).download_model(args.result, args.output)
    data = {"path": str(download.path), "size": download.size, "sha256": download.sha256,
            "weights_sha256": download.weights_sha256}
    if not _json_out(args, data):
        print(f"saved {download.path} ({download.size:,} bytes)")
        print(f"SHA-256 {download.sha256} (equal to the backend's X-Content-SHA256)")
        print(f"final weights SHA-256 {download.weights_sha256 or '(not reported)'} (X-Weights-SHA256: the "
              "content hash of the final global version, on chain in blockchain mode)")
    return 0


def run_result_stop(args: argparse.Namespace) -> int:
    return _stopped(args, connect(args).stop(args.result))


def _stopped(args: argparse.Namespace, stopped: list[str]) -> int:
    """What a stop deleted (job or workload names)."""
    if not _json_out(args, {"stopped": stopped}):
        print(f"stopped {', '.join(stopped)}" if stopped else "nothing of it was running")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    payload = {"result": args.result, "input_format": args.input_format, "input_config": args.input_config,
               "input_topic": args.input_topic, "output_topic": args.output_topic, "replicas": args.replicas,
               "bootstrap_servers": args.bootstrap_servers, "batch": args.batch}
    if args.error_topic is not None:
        payload["error_topic"] = args.error_topic
    inference = connect(args).infer(payload)
    if not _json_out(args, inference):
        _print_inference(inference)
    return 0 if inference["status"] in ("created", "running") else 1


def run_inference_list(args: argparse.Namespace) -> int:
    inferences = connect(args).inferences()
    if not _json_out(args, inferences):
        _table(f"{len(inferences)} inference(s)", ("id", "result", "model", "status", "replicas", "input", "output",
                                                     "created"),
               [(i["id"], i["result"], i["model_name"], i["status"], i["replicas"], i["input_topic"],
                 i["output_topic"], i["created_at"][:19]) for i in inferences])
    return 0


def run_inference_show(args: argparse.Namespace) -> int:
    inference = connect(args).inference(args.inference)
    if not _json_out(args, inference):
        _print_inference(inference)
    return 0


def run_inference_stop(args: argparse.Namespace) -> int:
    return _stopped(args, connect(args).stop_inference(args.inference))


def run_inference_rollout(args: argparse.Namespace) -> int:
    inference = connect(args).rollout_inference(args.inference)
    if not _json_out(args, inference):
        _print_inference(inference)
        console().print(f"now serving the model with SHA-256 {inference['model_sha256']}")
    return 0


def run_inference_delete(args: argparse.Namespace) -> int:
    connect(args).delete_inference(args.inference)
    if not _json_out(args, {"deleted": args.inference}):
        print(f"deleted inference {args.inference}")
    return 0


def _print_inference(inference: dict) -> None:
    colour = {"running": "green", "failed": "red", "stopped": "yellow"}.get(inference["status"], "white")
    console().print(f"inference {inference['id']} of training result {inference['result']} "
                    f"({inference['model_name']}): [{colour}]{inference['status']}[/{colour}], "
                    f"{inference['replicas']} replica(s), {inference['input_format']} from {inference['input_topic']} "
                    f"→ {inference['output_topic']} (errors: {inference['error_topic']}) on "
                    f"{inference['bootstrap_servers']}")
    if inference.get("error"):
        print(f"error: {inference['error']}")


def _shape(shape: list | None) -> str:
    return "-" if shape is None else str(tuple(shape))  # the batch dimension is not part of it


def _number(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
