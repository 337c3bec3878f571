"""The REST API's rules on a live backend: authentication everywhere but health and schema,
owners see only their own resources, every bad payload a 400 with field errors, unknown ids 404,
conflicts 409, oversized bodies 413 — and models built in the background by the secret-free
builder, their outcome (description, or error and line) on the model."""

from __future__ import annotations

import json

import pytest
import requests

from kafkaml.cli.platform_client import PlatformError, wait_until_built
from kafkaml.toydata import TOY_MODEL_SOURCE
from tests.backend import documented
from tests.backend.conftest import Backend
from tests.backend.platform_flow import built_model


def test_health_and_schema_need_no_login_everything_else_does(backend: Backend) -> None:
    assert requests.get(f"{backend.url}/api/health/").json() == {"status": "ok", "database": True}
    schema = requests.get(f"{backend.url}/api/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200 and "/api/models/" in schema.text
    for path in ("models/", "configurations/", "deployments/", "results/", "datasources/", "chain/", "auth/me/"):
        answer = requests.get(f"{backend.url}/api/{path}")
        assert answer.status_code in (401, 403), path
    wrong = requests.post(f"{backend.url}/api/auth/token/", json={"username": "nobody", "password": "x"})
    assert wrong.status_code in (401, 403)


def test_a_users_password_gets_the_token_the_tests_use(backend: Backend) -> None:
    """``Backend.as_user`` takes a user's token in the backend's shell, not through the sign-in: the
    sign-in with that user's password gives the same token, every time, and it opens the API."""
    session = backend.as_user("alice-signs-in")
    credentials = {"username": "alice-signs-in", "password": "alice-signs-in-password-1"}
    for _ in range(2):  # the second sign-in checks the hash the first one upgraded
        answer = requests.post(f"{backend.url}/api/auth/token/", json=credentials)
        assert answer.status_code == 200, answer.text
        assert f"Token {answer.json()['token']}" == session.headers["Authorization"]
    me = requests.get(f"{backend.url}/api/auth/me/", headers={"Authorization": session.headers["Authorization"]})
    assert me.status_code == 200 and me.json()["username"] == "alice-signs-in", me.text


def test_a_model_is_built_once_without_secrets_and_described(backend: Backend) -> None:
    alice = backend.as_user("alice-models")
    created = alice.post(f"{backend.url}/api/models/", json={"name": "toy", "source": TOY_MODEL_SOURCE})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "building" and created.json()["parameters"] is None
    model = wait_until_built(lambda: alice.get(f"{backend.url}/api/models/{created.json()['id']}/").json())
    assert model["input_shape"] == [None, 8] or model["input_shape"] == [8]
    assert model["parameters"] > 0 and [layer["class_name"] for layer in model["layers"]][-1] == "Dense"
    assert model["error"] == "" and model["line"] is None
    listed = alice.get(f"{backend.url}/api/models/").json()
    assert [m["name"] for m in listed["results"]] == ["toy"] and listed["count"] == 1
    assert listed["results"][0]["status"] == "ready"
    duplicate = alice.post(f"{backend.url}/api/models/", json={"name": "toy", "source": TOY_MODEL_SOURCE})
    assert duplicate.status_code == 400 and "name" in duplicate.json()


def _failed(user: requests.Session, backend: Backend, name: str, source: str) -> dict:
    created = user.post(f"{backend.url}/api/models/", json={"name": name, "source": source})
    assert created.status_code == 201 and created.json()["status"] == "building", created.text
    with pytest.raises(PlatformError) as failure:
        wait_until_built(lambda: user.get(f"{backend.url}/api/models/{created.json()['id']}/").json())
    model = failure.value.body
    assert model["status"] == "failed" and model["parameters"] is None and model["layers"] == [], model
    return model


def test_build_errors_come_back_with_their_line(backend: Backend) -> None:
    alice = backend.as_user("alice-errors")
    syntax = alice.post(f"{backend.url}/api/models/", json={"name": "bad", "source": "import keras\nmodel = (\n"})
    assert syntax.status_code == 400 and syntax.json()["line"] == 2 and "syntax error" in syntax.json()["source"][0]
    for payload in ({}, {"name": "", "source": "x"}, {"name": "n", "source": ["x"]}, {"name": "n", "source": 5},
                    {"name": "n" * 101, "source": "x"}):
        answer = alice.post(f"{backend.url}/api/models/", json=payload)
        assert answer.status_code == 400 and isinstance(answer.json(), dict), payload
    assert alice.get(f"{backend.url}/api/models/").json()["count"] == 0  # nothing was stored
    # What only running the source finds arrives on the model: the builder's error, at its line.
    lam = TOY_MODEL_SOURCE.replace("keras.Input(shape=(8,)),", "keras.Input(shape=(8,)), keras.layers.Lambda(lambda x: x),")
    assert lam != TOY_MODEL_SOURCE
    assert "Lambda" in _failed(alice, backend, "lambda", lam)["error"]
    raising = _failed(alice, backend, "raises", "x = 1\nraise ValueError('no')\n")
    assert raising["line"] == 2 and "no" in raising["error"]
    listed = {m["name"]: m["status"] for m in alice.get(f"{backend.url}/api/models/").json()["results"]}
    assert listed == {"lambda": "failed", "raises": "failed"}
    # A failed model cannot be deployed; a fixed source rebuilds it.
    refused = alice.post(f"{backend.url}/api/configurations/", json={"name": "c", "ml_models": [raising["id"]]})
    assert refused.status_code == 400 and "failed" in refused.json()["ml_models"][0], refused.text
    fixed = alice.patch(f"{backend.url}/api/models/{raising['id']}/", json={"source": TOY_MODEL_SOURCE})
    assert fixed.status_code == 200 and fixed.json()["status"] == "building" and fixed.json()["error"] == ""
    rebuilt = wait_until_built(lambda: alice.get(f"{backend.url}/api/models/{raising['id']}/").json())
    assert rebuilt["parameters"] > 0 and rebuilt["line"] is None


def test_a_model_being_built_can_be_renamed_but_not_changed_deleted_or_deployed(backend: Backend) -> None:
    alice = backend.as_user("alice-building")
    slow = "import time\ntime.sleep(8)\n" + TOY_MODEL_SOURCE
    model = alice.post(f"{backend.url}/api/models/", json={"name": "slow", "source": slow}).json()
    url = f"{backend.url}/api/models/{model['id']}/"
    assert alice.patch(url, json={"source": TOY_MODEL_SOURCE}).status_code == 409
    assert alice.delete(url).status_code == 409
    refused = alice.post(f"{backend.url}/api/configurations/", json={"name": "c", "ml_models": [model["id"]]})
    assert refused.status_code == 400 and "building" in refused.json()["ml_models"][0], refused.text
    renamed = alice.patch(url, json={"name": "slow-renamed", "description": "waiting"})
    assert renamed.status_code == 200 and renamed.json()["status"] == "building"
    ready = wait_until_built(lambda: alice.get(url).json())
    assert (ready["name"], ready["description"], ready["source"]) == ("slow-renamed", "waiting", slow)
    configuration = alice.post(f"{backend.url}/api/configurations/", json={"name": "c", "ml_models": [model["id"]]})
    assert configuration.status_code == 201, configuration.text
    # A source changed after the configuration was made: the deployment waits for the rebuild (a
    # shorter sleep: one request is made while it runs).
    assert alice.patch(url, json={"source": slow.replace("sleep(8)", "sleep(3)")}).json()["status"] == "building"
    deployment = alice.post(f"{backend.url}/api/deployments/", json={
        "configuration": configuration.json()["id"], "validation_datasource": 1, "coordination": "classic",
        "clients": [{"identity": "client-1", "sample_ceiling": 10}]})
    assert deployment.status_code == 400 and "building" in deployment.json()["configuration"][0], deployment.text
    wait_until_built(lambda: alice.get(url).json())


def test_owners_see_and_change_only_their_own_resources(backend: Backend) -> None:
    alice, bob = backend.as_user("alice-owner"), backend.as_user("bob-owner")
    model = alice.post(f"{backend.url}/api/models/", json={"name": "mine", "source": TOY_MODEL_SOURCE}).json()
    assert bob.get(f"{backend.url}/api/models/{model['id']}/").status_code == 404
    assert bob.delete(f"{backend.url}/api/models/{model['id']}/").status_code == 404
    assert bob.patch(f"{backend.url}/api/models/{model['id']}/", json={"name": "stolen"}).status_code == 404
    assert all(m["id"] != model["id"] for m in bob.get(f"{backend.url}/api/models/").json()["results"])
    refused = bob.post(f"{backend.url}/api/configurations/", json={"name": "c", "ml_models": [model["id"]]})
    assert refused.status_code == 400 and "ml_models" in refused.json()
    staff = backend.admin()
    assert staff.get(f"{backend.url}/api/models/{model['id']}/").status_code == 200


def test_conflicts_and_unknown_ids(backend: Backend) -> None:
    alice = backend.as_user("alice-conflicts")
    model = built_model(backend, alice, "used", TOY_MODEL_SOURCE)
    configuration = alice.post(f"{backend.url}/api/configurations/",
                               json={"name": "uses", "ml_models": [model["id"]]})
    assert configuration.status_code == 201, configuration.text
    assert alice.delete(f"{backend.url}/api/models/{model['id']}/").status_code == 409
    assert alice.get(f"{backend.url}/api/models/999999/").status_code == 404
    assert alice.get(f"{backend.url}/api/results/999999/").status_code == 404
    assert alice.delete(f"{backend.url}/api/configurations/{configuration.json()['id']}/").status_code == 204
    assert alice.delete(f"{backend.url}/api/models/{model['id']}/").status_code == 204


def test_bodies_above_the_limit_are_refused_with_413(backend: Backend) -> None:
    alice = backend.as_user("alice-big")
    answer = alice.post(f"{backend.url}/api/models/", data=b"x" * (9 * 1024 * 1024),
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_job_tokens_cannot_reach_user_endpoints_or_other_results(backend: Backend) -> None:
    forged = requests.post(f"{backend.url}/api/results/1/reports/", headers={"Authorization": "Job nope"},
                           json={"result_id": "1", "sender": "aggregator", "kind": "progress", "time": "t",
                                 "data": {"version": 1}})
    assert forged.status_code in (401, 403)
    as_user = backend.as_user("alice-jobs").post(
        f"{backend.url}/api/results/1/reports/",
        json={"result_id": "1", "sender": "aggregator", "kind": "progress", "time": "t", "data": {"version": 1}})
    assert as_user.status_code in (401, 403)  # a user token is no job token


def test_urls_no_view_matches_answer_json_under_api(backend: Backend) -> None:
    alice = backend.as_user("alice-urls")
    for path in ("models/abc/", "results/-1/rounds/", "no-such-thing/"):
        answer = alice.get(f"{backend.url}/api/{path}")
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json", path
        assert answer.json() == {"detail": "Not found."}


def test_page_parameters_out_of_range_are_refused(backend: Backend) -> None:
    alice = backend.as_user("alice-pages")
    for query in ("limit=abc", "limit=0", "limit=1001", "offset=-1", "offset=null", "limit=%C2%B2"):
        answer = alice.get(f"{backend.url}/api/results/?{query}")
        assert answer.status_code == 400 and set(answer.json()) <= {"limit", "offset"}, query
    page = alice.get(f"{backend.url}/api/models/?limit=1000&offset=5")
    assert page.status_code == 200 and page.json()["results"] == []


def _job(backend: Backend, owner: str) -> tuple[requests.Session, str]:
    result_id, token = backend.dormant_result(owner)
    job = requests.Session()
    job.headers["Authorization"] = f"Job {token}"
    return job, f"{backend.url}/api/results/{result_id}"


def test_an_empty_or_unnamed_model_upload_is_a_400(backend: Backend) -> None:
    job, url = _job(backend, "alice-job-upload")
    empty = job.put(f"{url}/model/", data=b"", headers={"X-Content-SHA256": "0" * 64})
    assert empty.status_code == 400 and "body" in empty.json(), empty.text  # no file is not a file too large
    unnamed = job.put(f"{url}/model/", data=b"")
    assert unnamed.status_code == 400 and "X-Content-SHA256" in unnamed.json(), unnamed.text


def test_bad_round_reports_are_400s(backend: Backend) -> None:
    job, url = _job(backend, "alice-job-reports")
    envelope = {"result_id": url.rsplit("/", 1)[-1], "sender": "aggregator", "kind": "progress", "time": "t"}
    for data in ({"version": 2**31}, {"version": 2**40}, {"version": 0}, {"version": 1, "val_loss": "x"}):
        answer = job.post(f"{url}/reports/", json={**envelope, "data": data})
        assert answer.status_code == 400, (data, answer.status_code, answer.text)
    stored = job.post(f"{url}/reports/", json={**envelope, "data": {"version": 2**31 - 1, "val_loss": 0.5}})
    assert stored.status_code == 201, stored.text


def test_a_rounds_privacy_is_stored_checked_and_listed(backend: Backend) -> None:
    """Central differential privacy's account (training_worker's RoundReport.privacy) reaches
    GET /api/results/{id}/rounds/ as sent; a malformed one is a 400 naming data.privacy."""
    owner = backend.as_user("alice-job-privacy")  # first: dormant_result would make the user without a password
    job, url = _job(backend, "alice-job-privacy")
    envelope = {"result_id": url.rsplit("/", 1)[-1], "sender": "aggregator", "kind": "progress", "time": "t"}
    privacy = {"epsilon": 4.7285, "delta": 1e-5, "noise_multiplier": 1.0, "clip": 0.1, "rounds": 1,
               "noise_std": 0.05, "seed": "ab" * 32, "accountant": "rdp"}
    for bad in ({**privacy, "epsilon": -1}, {**privacy, "seed": "xyz"}, {**privacy, "delta": 2}, "high"):
        answer = job.post(f"{url}/reports/", json={**envelope, "data": {"version": 1, "privacy": bad}})
        assert answer.status_code == 400 and "data.privacy" in answer.json(), (bad, answer.text)
    for version, spent in ((1, privacy), (2, {**privacy, "epsilon": None, "rounds": 2}), (3, None)):
        answer = job.post(f"{url}/reports/", json={**envelope, "data": {"version": version, "privacy": spent}})
        assert answer.status_code == 201, answer.text
    rounds = owner.get(f"{url}/rounds/").json()
    assert [r["privacy"] for r in rounds] == [privacy, {**privacy, "epsilon": None, "rounds": 2}, None]


def test_nul_characters_in_json_bodies_are_400s(backend: Backend) -> None:
    job, url = _job(backend, "alice-job-nul")
    envelope = {"result_id": url.rsplit("/", 1)[-1], "sender": "aggregator", "kind": "progress", "time": "t"}
    for data in ({"version": 1, "contributions": [{"client": "a\u0000b"}]}, {"version": 1, "transaction": {"\u0000": 1}}):
        answer = job.post(f"{url}/reports/", json={**envelope, "data": data})
        assert answer.status_code == 400, (data, answer.status_code, answer.text)
    final = job.post(f"{url}/reports/", json={**envelope, "kind": "final", "data": {"metrics": {"x\u0000": 1}}})
    assert final.status_code == 400, final.text


def test_a_deeply_nested_json_body_is_a_400_and_kills_no_worker(backend: Backend) -> None:
    alice = backend.as_user("alice-deep")
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        deep = alice.post(f"{backend.url}/api/configurations/", data=body, headers={"Content-Type": "application/json"})
        assert deep.status_code == 400 and "nested too deeply" in deep.json()["detail"], deep.text
    assert "SIGSEGV" not in backend.log_path.read_text()


def test_nul_characters_in_query_parameters_are_400s(backend: Backend) -> None:
    alice = backend.as_user("alice-query-nul")
    for path in ("datasources/?datasource_id=a%00b", "results/?status=%00", "results/?deployment=%00",
                 "models/?limit=1%00"):
        answer = alice.get(f"{backend.url}/api/{path}")
        assert answer.status_code == 400, (path, answer.status_code, answer.text)


QUERY_COUNT = """
import json, uuid
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from backend.api.models import RoundRecord, TrainingResult
template = TrainingResult.objects.get(pk=RESULT)
token = Token.objects.get_or_create(user=template.deployment.owner)[0].key
counts = []
for more in (0, 5):
    for _ in range(more):
        result = TrainingResult.objects.create(deployment=template.deployment, ml_model=template.ml_model,
                                               federated_id="kml-" + uuid.uuid4().hex[:12], token_sha256="")
        RoundRecord.objects.bulk_create(RoundRecord(result=result, version=v, elapsed_s=1.0, contributions=[])
                                        for v in range(1, 4))
    with CaptureQueriesContext(connection) as queries:
        page = Client(HTTP_HOST="localhost").get("/api/results/", HTTP_AUTHORIZATION="Token " + token).json()
    counts.append([len(queries), page["count"], sorted({r["rounds_done"] for r in page["results"]})])
print(json.dumps(counts))
"""


def test_the_results_list_makes_the_same_few_queries_whatever_its_length(backend: Backend) -> None:
    job, url = _job(backend, "alice-queries")
    job.post(f"{url}/reports/", json={"result_id": "", "sender": "aggregator", "kind": "progress", "time": "t",
                                      "data": {"version": 1}}).raise_for_status()
    one, six = json.loads(backend.shell(QUERY_COUNT.replace("RESULT", url.rsplit("/", 1)[-1]))
                          .splitlines()[-1])
    assert one == [2, 1, [1]] and six == [2, 6, [1, 3]]  # token, then the page with its count: none per result


PAGE_COST = """
import json, uuid
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from backend.api.models import RoundRecord, TrainingResult
template = TrainingResult.objects.get(pk=RESULT)
token = Token.objects.get_or_create(user=template.deployment.owner)[0].key
for _ in range(11):
    result = TrainingResult.objects.create(deployment=template.deployment, ml_model=template.ml_model,
                                           federated_id="kml-" + uuid.uuid4().hex[:12], token_sha256="")
    RoundRecord.objects.bulk_create(RoundRecord(result=result, version=v, elapsed_s=1.0, contributions=[])
                                    for v in range(1, 4))
with CaptureQueriesContext(connection) as queries:
    page = Client(HTTP_HOST="localhost").get("/api/results/?limit=2&offset=10", HTTP_AUTHORIZATION="Token " + token)

def loops(node):
    own = node["Actual Loops"] if node.get("Relation Name") == "platform_roundrecord" else 0
    return own + sum(loops(child) for child in node.get("Plans", []))

scans = 0
with connection.cursor() as cursor:
    for query in queries.captured_queries:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
        plan = cursor.fetchone()[0]
        scans += loops((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
print(json.dumps([page.json()["count"], [r["rounds_done"] for r in page.json()["results"]], scans]))
"""


def test_a_deep_results_page_reads_the_rounds_of_its_own_rows_only(backend: Backend) -> None:
    """PostgreSQL evaluates a select-list subquery for every row it reads, those OFFSET skips too:
    the round counts must be computed for the page's rows, or a page costs more the deeper it is."""
    _, url = _job(backend, "alice-page-cost")
    count, rounds, scans = json.loads(backend.shell(PAGE_COST.replace(
        "RESULT", url.rsplit("/", 1)[-1])).splitlines()[-1])
    assert count == 12 and rounds == [3, 0]  # the page: the first of the eleven, then the dormant one
    assert scans == 2, f"the rounds were counted for {scans} results to show 2"


def test_a_results_list_row_is_the_results_own_representation(backend: Backend) -> None:
    owner = backend.as_user("alice-rows")
    job, url = _job(backend, "alice-rows")
    job.post(f"{url}/reports/", json={"result_id": "", "sender": "aggregator", "kind": "progress", "time": "t",
                                      "data": {"version": 1, "val_loss": 0.5}}).raise_for_status()
    job.post(f"{url}/reports/", json={"result_id": "", "sender": "aggregator", "kind": "final", "time": "t",
                                      "data": {"metrics": {"accuracy": 0.5}}}).raise_for_status()
    detail = owner.get(url + "/").json()
    (row,) = owner.get(f"{backend.url}/api/results/", params={"deployment": detail["deployment"]}).json()["results"]
    assert row == detail and row["rounds_done"] == 1 and row["finished_at"].endswith("Z")


def test_strategies_list_every_strategy_with_the_defaults_make_strategy_fills_in(backend: Backend) -> None:
    from kafkaml.rewards import POLICIES
    from kafkaml.strategies import STRATEGIES, make_strategy

    assert requests.get(f"{backend.url}/api/strategies/").status_code in (401, 403)
    answer = backend.as_user("alice-strategies").get(f"{backend.url}/api/strategies/")
    assert answer.status_code == 200, answer.text
    listed = {strategy["name"]: strategy for strategy in answer.json()["strategies"]}
    assert list(listed) == list(STRATEGIES)
    for name, strategy in listed.items():
        assert strategy["description"], name
        parameters = {parameter["name"]: parameter for parameter in strategy["parameters"]}
        for key, value in make_strategy(name).params().items():
            assert parameters[key]["default"] == value and parameters[key]["description"], (name, key)
        assert strategy["updates_per_round"] == make_strategy(name).updates_per_round
    fedasync = {parameter["name"]: parameter for parameter in listed["fedasync"]["parameters"]}
    assert fedasync["staleness"]["value_type"] == "choice" and "hinge" in fedasync["staleness"]["choices"]
    assert fedasync["b"]["when"] == {"staleness": ["hinge"]} and fedasync["alpha"]["value_type"] == "number"
    assert {p["name"]: p["value_type"] for p in listed["fedavg"]["parameters"]}["updates"] == "integer"
    assert listed["mix"]["parameters"] == []
    policies = answer.json()["reward_policies"]
    assert [policy["name"] for policy in policies] == list(POLICIES) and all(p["description"] for p in policies)


def test_fields_typed_as_strings_refuse_numbers(backend: Backend) -> None:
    """Issue 18 (9): DRF's CharField took ``5`` for ``"5"``; every string field now refuses it (400
    naming the field), as the schema's ``type: string`` says, for users, relays and jobs alike."""
    alice = backend.as_user("alice-strings")
    job, url = _job(backend, "alice-strings-job")
    refusals = [
        (alice, "post", "/api/models/", {"name": 5, "source": TOY_MODEL_SOURCE}, "name"),
        (alice, "post", "/api/configurations/", {"name": 1.5, "ml_models": [1]}, "name"),
        (alice, "post", "/api/deployments/", {"configuration": 1, "validation_datasource": 1, "reward_base": 1,
                                              "clients": [{"identity": 7, "sample_ceiling": 1}]}, "reward_base"),
        (requests.Session(), "post", "/api/auth/token/", {"username": 5, "password": "x"}, "username"),
        (backend.relay(), "post", "/api/datasources/register/",
         {"control_topic": "strings", "partition": 0, "offset": 0, "record": 5}, "record"),
        (job, "post", url.removeprefix(backend.url) + "/reports/",
         {"result_id": 1, "sender": "aggregator", "kind": "progress", "time": "t", "data": {"version": 1}}, "result_id"),
    ]
    for session, method, path, body, field in refusals:
        answer = getattr(session, method)(f"{backend.url}{path}", json=body)
        assert answer.status_code == 400 and answer.json()[field] == ["Not a valid string."], (path, answer.text)
    assert alice.get(f"{backend.url}/api/models/").json()["count"] == 0


def test_an_undocumented_answer_fails_the_test_that_got_it(backend: Backend) -> None:
    """The session's check (tests.backend.documented) is no formality: an answer the schema does
    not list for its operation is an AssertionError naming it; one it lists passes."""
    request = requests.Request("DELETE", f"{backend.url}/api/results/1/").prepare()
    answer = requests.Response()
    answer.url, answer.request, answer._content = request.url, request, b"{}"
    answer.status_code = 409
    documented.check(answer)
    answer.status_code = 429
    with pytest.raises(AssertionError, match="DELETE /api/results/1/ answered 429"):
        documented.check(answer)


def test_the_results_list_filters_by_owner_status_and_deployment(backend: Backend) -> None:
    """The list's one statement applies the same visibility as every other read: a user's own
    results, staff everyone's, narrowed by ``status`` and ``deployment``."""
    alice, bob = backend.as_user("alice-filters"), backend.as_user("bob-filters")
    staff = backend.as_user("staff-filters", staff=True)
    alices = [backend.dormant_result("alice-filters")[0] for _ in range(2)]
    bobs = backend.dormant_result("bob-filters")[0]

    def ids(session: requests.Session, **params) -> list[int]:
        answer = session.get(f"{backend.url}/api/results/", params={"limit": 1000, **params})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["count"] == len(page["results"])
        return [row["id"] for row in page["results"]]

    assert ids(alice) == sorted(alices, reverse=True) and ids(bob) == [bobs]
    assert set(alices) | {bobs} <= set(ids(staff))
    assert ids(alice, status="running") == sorted(alices, reverse=True) and ids(alice, status="finished") == []
    deployment = alice.get(f"{backend.url}/api/results/{alices[0]}/").json()["deployment"]
    assert ids(alice, deployment=deployment) == [alices[0]]
    assert ids(bob, deployment=deployment) == []  # another user's deployment shows nothing
    assert ids(staff, deployment=deployment) == [alices[0]]
    for bad in ("²", "-1", "1.5", "9" * 19):
        answer = alice.get(f"{backend.url}/api/results/", params={"deployment": bad})
        assert answer.status_code == 400 and "deployment" in answer.json(), (bad, answer.text)
