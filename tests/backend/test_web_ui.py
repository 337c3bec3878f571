"""The web UI end to end in a real browser (Debian's Chromium driven by playwright-core), against
the real platform: the backend serving the built app, the brokers, the chain, and two clients'
federated backends and loggers that start their trainers when the deployment is announced.

The browser does what a user does (``frontend/e2e/flow.mjs``): sign in, a model in the editor,
a configuration, the deployment form's kinds (single and incremental hide the federated fields), a
blockchain deployment for both clients, the rounds arriving live, tokens,
Verify, the model download, the API docs page. Here we check what it reports against the API: the
same result, every round shown within 2 s of the API having it, the downloaded file's SHA-256, no
serious or critical accessibility violation and no sideways overflow at phone width on any page,
nothing refused by the Content-Security-Policy the backend sends.
Screenshots of every page are written to ``out/ui-screenshots`` (the README shows some).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from kafkaml.local import stack as local
from kafkaml.local.platform import UI_BUILD
from kafkaml.sinks import publish_datasource
from kafkaml.workloads import make_workload
from tests.backend.conftest import Backend
from tests.backend.platform_flow import job_logs, register_validation_datasource
from tests.conftest import unique

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
SCREENSHOTS = ROOT / "out" / "ui-screenshots"
ROUNDS = 4
# A source that parses but that the builder refuses (no such layer), at a known line: the build
# fails in the background and the editor must mark that line.
BROKEN_SOURCE = ("import tensorflow as tf\n\nmodel = tf.keras.Sequential([\n    tf.keras.layers.Dense(4, input_shape=(8,)),\n])\n"
                 "model.add(tf.keras.layers.Oops(3))\n")
BROKEN_LINE = 6


def test_the_users_path_in_a_browser(backend: Backend, local_stack: local.Stack, start_clients,
                                     tmp_path: Path) -> None:
    assert (UI_BUILD / "index.html").is_file() and shutil.which("node"), "the web UI is not built: run make setup"
    assert Path("/usr/bin/chromium").exists() or shutil.which("chromium"), "Debian's chromium: make setup installs it"
    user = backend.as_user("ui-user")  # created with the password "<name>-password-1", which the browser types
    token = backend.admin().post(f"{backend.url}/api/chain/").json()["token"]
    topic = unique("data-control")  # this test's datasources only, whatever else the session's brokers hold
    start_clients(token, topic, ("auto", "auto"))
    workload = make_workload("toy", 2, 1200, seed=11, mode="random-split")
    for index, name in enumerate(("client-1", "client-2")):
        publish_datasource(local_stack.bootstrap(name), unique("kml-data"), unique(f"{name}-ui"),
                           workload.clients[index], workload.classes, control_topic=topic)
    validation = register_validation_datasource(backend, local_stack, unique("ui-validation"))

    summary_path = tmp_path / "summary.json"
    config = {
        "url": backend.url, "username": "ui-user", "password": "ui-user-password-1", "modelName": unique("ui-model"),
        "modelSource": workload.model_source, "brokenSource": BROKEN_SOURCE, "brokenLine": BROKEN_LINE,
        "validation": validation["datasource_id"], "rounds": ROUNDS,
        "clients": [{"identity": local_stack.account(name).address, "ceiling": len(share)}
                    for name, share in zip(("client-1", "client-2"), workload.clients, strict=True)],
        "screenshots": str(SCREENSHOTS), "summary": str(summary_path),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = subprocess.run(["node", "e2e/flow.mjs", str(tmp_path / "config.json")], cwd=FRONTEND,
                         capture_output=True, text=True, timeout=900)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    result_id = summary.get("resultId")
    assert run.returncode == 0, (f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}\n{json.dumps(summary, indent=1)}\n"
                                 f"{job_logs(backend, result_id) if result_id else ''}")

    result = user.get(f"{backend.url}/api/results/{result_id}/").json()
    assert result["status"] == "finished" and result["contract_address"], result
    assert summary["versions"] == list(range(1, ROUNDS + 1))
    assert max(summary["roundLagsMs"]) <= 2000, summary["roundLagsMs"]
    assert summary["downloadedSha256"] == summary["modelSha256"] == result["model_sha256"]
    assert summary["verdict"].startswith(f"All {ROUNDS} versions identical"), summary["verdict"]
    assert summary["violations"] == {}, json.dumps(summary["violations"], indent=1)
    assert summary["overflow"] == [], summary["overflow"]
    assert not summary.get("pageErrors"), summary["pageErrors"]
    assert summary["cspViolations"] == [], summary["cspViolations"]  # the UI and the API docs, under the CSP
    assert summary["apiDocsTitle"].startswith("Kafka-ML Federated + Blockchain platform API"), summary["apiDocsTitle"]
    assert {"model-error", "model-summary", "deployment-form", "training-live", "training-finished", "lineage",
            "inferences", "clients", "sign-in"} <= set(summary["pages"])
    assert all((SCREENSHOTS / f"{page}.png").stat().st_size > 10_000 for page in summary["pages"])
