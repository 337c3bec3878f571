"""`kafkaml platform ...` against a live backend (gunicorn + PostgreSQL, real brokers and chain):
a model from a file, a build error with its line, a configuration, the datasources, a blockchain
deployment followed round by round until it finished, the final model downloaded with its
SHA-256 checked, a stop; a bad token and a missing backend each give one clear line and exit 2.

The CLI runs in-process (``kafkaml.cli.main``), its output captured."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from kafkaml import processes
from kafkaml.cli import main
from kafkaml.local import platform
from kafkaml.local import stack as local
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.backend.conftest import Backend
from tests.backend.platform_flow import job_logs, register_validation_datasource, start_trainers, wait_for
from tests.conftest import unique

ROUNDS = 3


@pytest.fixture
def cli(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(*args)`` → (exit code, stdout, stderr) as user ``carol-cli``."""
    return cli_of(backend, "carol-cli", tmp_path, monkeypatch, capsys)


def cli_of(backend: Backend, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture):
    """``cli(*args)`` → (exit code, stdout, stderr) as ``user``, whose token is in a file named by
    KAFKAML_PLATFORM_TOKEN_FILE and the backend in KAFKAML_PLATFORM_URL."""
    session = backend.as_user(user)
    token_file = tmp_path / "token"
    token_file.write_text(session.headers["Authorization"].split()[1] + "\n")
    monkeypatch.setenv("KAFKAML_PLATFORM_URL", backend.url)
    monkeypatch.setenv("KAFKAML_PLATFORM_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("COLUMNS", "200")  # rich's tables unwrapped

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["platform", *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.session = session
    return run


def test_model_to_final_model_through_the_cli(cli, backend: Backend, local_stack: local.Stack,
                                              tmp_path: Path) -> None:
    source = tmp_path / "toy.py"
    source.write_text(TOY_MODEL_SOURCE)
    code, out, _ = cli("--json", "models", "create", unique("toy"), str(source), "--description", "from a file")
    assert code == 0
    model = json.loads(out)
    assert model["parameters"] > 0 and model["description"] == "from a file"
    code, out, _ = cli("models", "create", unique("toy"), str(source))  # the human-readable answer
    assert code == 0 and re.search(r"model \d+ 'toy-\w+': 195 parameters, input \(8,\) → output \(3,\)",
                                   out), out
    assert "Dense" in out
    code, out, _ = cli("models", "list")
    assert code == 0 and model["name"] in out

    broken = tmp_path / "broken.py"
    broken.write_text("import keras\nmodel = (\n")
    code, out, err = cli("models", "create", unique("broken"), str(broken))
    assert code == 2 and out == ""
    assert re.fullmatch(r"error: POST /api/models/ → 400 Bad Request: the model does not build: syntax error in the "
                        r"model source, line 2: .*\n", err), err
    raising = tmp_path / "raising.py"
    raising.write_text("x = 1\nraise ValueError('no model today')\n")
    name = unique("raising")
    code, out, err = cli("models", "create", name, str(raising))  # built in the background: the CLI waits
    assert code == 2 and re.match(rf"error: model \d+ '{name}': the model does not build", err), err
    assert "line 2" in err and "no model today" in err and err.count("\n") == 1, err
    code, out, _ = cli("--json", "models", "list")
    assert code == 0 and {m["name"]: m["status"] for m in json.loads(out)}[name] == "failed"

    code, out, err = cli("configurations", "create", unique("configuration"), "999999999")
    assert code == 2 and "ml_models: no model of yours with id 999999999" in err
    code, out, _ = cli("--json", "configurations", "create", unique("configuration"), str(model["id"]))
    assert code == 0
    configuration = json.loads(out)
    assert configuration["ml_models"] == [model["id"]]

    datasource = register_validation_datasource(backend, local_stack, unique("validation"))
    code, out, _ = cli("datasources", "list")
    assert code == 0 and "datasource(s)" in out
    code, out, _ = cli("--json", "datasources", "list")  # the table's columns may be cut; its rows are these
    assert code == 0 and datasource["datasource_id"] in {row["datasource_id"] for row in json.loads(out)}

    clients = [local_stack.account(f"client-{i}").address for i in (1, 2)]
    deploy = ["deploy", str(configuration["id"]), "--validation-datasource", str(datasource["id"]),
              "--rounds", str(ROUNDS), "--strategy", "fedasync", *(f"--client={c}=600" for c in clients)]
    code, _, err = cli(*deploy[:-1], "--client", "not-an-address=5")
    assert code == 2 and "clients: 'not-an-address' is not a 0x address" in err, err
    code, _, err = cli(*deploy, "--strategy-params", '{"alpha": 7}')
    assert code == 2 and "strategy_params:" in err, err
    code, _, err = cli(*deploy, "--strategy", "fedbuff", "--strategy-params", '{"updates": 3}')
    assert code == 2 and "strategy_params: fedbuff makes each version from 3 updates, but the training has 2" in err, err
    code, out, _ = cli(*deploy)
    assert code == 0
    result_id = int(re.search(r"training result\(s\) (\d+)", out).group(1))
    result = wait_for(cli.session, backend, result_id, lambda r: r["status"] in ("running", "failed"), 60)
    assert result["status"] == "running", job_logs(backend, result_id)
    token = cli.session.get(f"{backend.url}/api/chain/").json()["token"]
    trainers = start_trainers(local_stack, result, token, tmp_path)
    try:
        code, out, err = cli("results", "follow", str(result_id), "--timeout", "300")
    finally:
        for trainer in trainers:
            trainer.stop()
    assert code == 0, f"{out}{err}{job_logs(backend, result_id)}"
    assert [int(v) for v in re.findall(r"^round (\d+) ", out, re.M)] == list(range(1, ROUNDS + 1)), out
    assert "gas " in out and f"training result {result_id} finished after {ROUNDS} round(s)" in out

    code, out, _ = cli("results", "list", "--status", "finished")
    assert code == 0 and re.search(rf"│ {result_id} +│", out), out
    target = tmp_path / "final.keras"
    code, out, _ = cli("results", "download", str(result_id), "-o", str(target))
    assert code == 0
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    finished = cli.session.get(f"{backend.url}/api/results/{result_id}/").json()
    assert digest == finished["model_sha256"] and f"SHA-256 {digest} (equal to" in out
    assert f"final weights SHA-256 {finished['final']['final_sha256']} " in out
    assert not list(tmp_path.glob(".*.part"))
    code, _, err = cli("results", "stop", str(result_id))
    assert code == 2 and "409" in err, err  # a finished training cannot be stopped

    code, out, _ = cli("--json", "results", "follow", str(result_id))  # ended: prints what it has and returns
    assert code == 0 and json.loads(out.splitlines()[-1])["status"] == "finished"


def test_stop_a_running_training_then_follow_says_it_did_not_finish(cli, backend: Backend,
                                                                    local_stack: local.Stack, tmp_path: Path) -> None:
    source = tmp_path / "toy.py"
    source.write_text(TOY_MODEL_SOURCE)
    model = json.loads(cli("--json", "models", "create", unique("toy"), str(source))[1])
    configuration = json.loads(cli("--json", "configurations", "create", unique("c"), str(model["id"]))[1])
    datasource = register_validation_datasource(backend, local_stack, unique("validation"))
    code, out, err = cli("--json", "deploy", str(configuration["id"]), "--validation-datasource",
                         str(datasource["id"]), "--coordination", "blockchain", "--rounds", "50",
                         "--strategy", "mix", "--reward-policy", "tiered",
                         f"--client={local_stack.account('client-1').address}=600")
    assert code == 0, err
    # The paper's Algorithm 1 and token tiers, chosen from the shell.
    assert {key: json.loads(out)["settings"][key] for key in ("strategy", "reward_policy")} == {
        "strategy": "mix", "reward_policy": "tiered"}
    (result_id,) = json.loads(out)["results"]
    wait_for(cli.session, backend, result_id, lambda r: r["status"] in ("running", "failed"), 60)
    code, out, _ = cli("results", "stop", str(result_id))
    assert code == 0 and out.strip() == f"stopped aggregator-{result_id}"
    code, out, _ = cli("results", "follow", str(result_id))
    assert code == 1 and f"training result {result_id} stopped" in out
    code, _, err = cli("results", "download", str(result_id), "-o", str(tmp_path / "none.keras"))
    assert code == 2 and "404" in err and "no final model" in err
    assert not (tmp_path / "none.keras").exists()


def test_bad_token_and_missing_backend_are_one_clear_line(cli, backend: Backend, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = cli("--token", "not-a-token", "models", "list")
    assert code == 2 and out == ""
    assert err == ("error: GET /api/models/ → 403 Forbidden: Invalid token. (check the API token: --token, "
                   "--token-file or KAFKAML_PLATFORM_TOKEN_FILE)\n")
    empty = tmp_path / "empty"
    empty.write_text("")
    code, _, err = cli("results", "list", "--token-file", str(empty))  # options after the command work too
    assert code == 2 and err == f"error: the API token file {empty} is empty\n"

    nowhere = f"http://127.0.0.1:{processes.free_port()}"
    code, out, err = cli("models", "list", "--url", nowhere)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"cannot reach the platform backend at {nowhere} (connection refused)" in err
    assert "kafkaml local up" in err

    monkeypatch.delenv("KAFKAML_PLATFORM_URL")
    monkeypatch.setenv("KAFKAML_RUN_DIR", str(tmp_path / "no-stack"))
    code, _, err = cli("datasources", "list")
    assert code == 2 and "no platform backend given and no local one running" in err and "kafkaml local up" in err


def test_falls_back_on_the_local_stacks_backend_and_admin(cli, backend: Backend, local_stack: local.Stack,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No URL, no token given: the run directory's stack.json and platform-admin.json are used."""
    monkeypatch.delenv("KAFKAML_PLATFORM_URL")
    monkeypatch.delenv("KAFKAML_PLATFORM_TOKEN_FILE")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    port = int(backend.url.rsplit(":", 1)[1])
    parts = [*local_stack.parts, local.Part("platform-backend", "backend", port)]
    (run_dir / local.STATE_FILE).write_text(json.dumps(local.Stack(run_dir, local_stack.chain_id, parts,
                                                                   local_stack.accounts).to_json()))
    (run_dir / platform.ADMIN_FILE).write_text((backend.run_dir / platform.ADMIN_FILE).read_text())
    code, out, err = cli("--run-dir", str(run_dir), "--json", "results", "list")
    assert code == 0, err
    assert isinstance(json.loads(out), list)
    monkeypatch.setenv("KAFKAML_RUN_DIR", str(run_dir))
    code, out, err = cli("models", "list")
    assert code == 0 and "model(s)" in out, err


def test_a_single_training_through_the_cli(cli, backend: Backend, local_stack: local.Stack, tmp_path: Path) -> None:
    source = tmp_path / "toy.py"
    source.write_text(TOY_MODEL_SOURCE)
    code, out, _ = cli("--json", "models", "create", unique("toy"), str(source))
    assert code == 0
    code, out, _ = cli("--json", "configurations", "create", unique("configuration"), str(json.loads(out)["id"]))
    assert code == 0
    configuration = json.loads(out)["id"]
    datasource = register_validation_datasource(backend, local_stack, unique("training-data"), validation_rate=0.2,
                                                test_rate=0.2)
    deploy = ["deploy", str(configuration), "--kind", "single", "--validation-datasource", str(datasource["id"]),
              "--epochs", "2"]
    code, _, err = cli(*deploy, "--client=client-1=5")
    assert code == 2 and "clients: a single training has no clients" in err, err
    code, out, err = cli(*deploy, "--follow")
    assert code == 0, f"{out}{err}"
    assert re.search(r"deployment \d+ \(single\): training result\(s\) \d+", out), out
    assert [int(v) for v in re.findall(r"^round (\d+) ", out, re.M)] == [1, 2], out
    assert re.search(r"training result \d+ finished after 2 round\(s\)", out), out
