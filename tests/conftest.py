"""Shared fixtures: a real local stack (Tansu brokers + Anvil) and a throw-away PostgreSQL database
(on the configured server, or on one the session starts: ``tests/postgres_server.py``); and a check
on every session that no test left a file in the source tree.

``local_stack`` is session-scoped and reused by every test that needs a broker or the chain; it
runs in its own run directory so it never touches a developer's own ``kafkaml local`` stack.
Tests that kill or restart parts must bring up a stack of their own (see ``tests/integration/
test_local_stack.py``) instead of disturbing this one.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from kafka import TopicPartition
from psycopg import sql

from kafkaml import kafka, topics, warm_builder
from kafkaml.jobs import warm_start
from kafkaml.local import stack as local
from tests.postgres_server import SessionServer

ROOT = Path(__file__).resolve().parents[1]
SESSION_POSTGRES = SessionServer()
STACK_CLIENTS = 3

#: The longest test files, longest first (the full runs' slowest tests: docs/testing.md "Time").
#: pytest-xdist hands the files to its processes in collection order (`make test` passes
#: `--no-loadscope-reorder`; its default order, most tests first, puts these one- or two-test files
#: last). A long file handed out last ends the run on one process while the other idles; handed
#: out first, the short files fill the gaps behind them.
LONGEST_FIRST = (
    "tests/integration/test_federated_training.py",
    "tests/integration/test_vs_flower_benchmark.py",
    "tests/containers/test_compose_live.py",
    "tests/containers/test_platform.py",
    "tests/integration/test_heterogeneous_clients.py",
    "tests/integration/test_audit_recompute.py",
    "tests/backend/test_training_via_api.py",
    "tests/backend/test_model_builds.py",
    "tests/integration/test_stragglers_benchmark.py",
    "tests/integration/test_demo.py",
    "tests/backend/test_api_fuzz.py",
    "tests/containers/test_images.py",
    "tests/backend/test_federated_client.py",
    "tests/backend/test_web_ui.py",
)
#: Seconds per test file in this run (set-up, call and tear-down of its tests), for the summary.
FILE_SECONDS: Counter[str] = Counter()


def _untracked_files() -> set[str]:
    """Files in the checkout that git neither tracks nor ignores (``out/`` and the like are ignored)."""
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60)
    return set(filter(None, listed.stdout.decode().split("\0")))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of ``LONGEST_FIRST`` first, in its order; the others after them, as collected."""
    missing = [path for path in LONGEST_FIRST if not (ROOT / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that do not exist: {missing}")
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    FILE_SECONDS[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """The longest files of the run, which ``LONGEST_FIRST`` should list longest first (with
    pytest-xdist the reports, hence these sums, are the main process's)."""
    if not FILE_SECONDS:
        return
    terminalreporter.write_sep("=", "longest test files (seconds; LONGEST_FIRST in tests/conftest.py orders them)")
    for path, seconds in FILE_SECONDS.most_common(20):
        listed = "" if path in LONGEST_FIRST else "  (not in LONGEST_FIRST)"
        terminalreporter.write_line(f"{seconds:8.1f}  {path}{listed}")


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_source_tree() -> Iterator[None]:
    """Tests write under their ``tmp_path`` or ``out/``, never into the source tree, where a stray
    file is one ``git add`` away from being committed: a file that appeared there during the
    session (untracked and not ignored) fails it, named."""
    before = _untracked_files()
    yield
    appeared = _untracked_files() - before
    assert not appeared, (f"files appeared in the source tree during the tests: {sorted(appeared)}; a test must "
                          "write under tmp_path or out/ (if you created them yourself meanwhile, run again)")


@pytest.fixture(scope="session", autouse=True)
def no_warm_process_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """The local jobs' warm processes (``kafkaml.jobs.warm_start``) and the warm builders
    (``kafkaml.warm_builder``) would idle on for minutes after the session: it asks this
    checkout's to exit. The xdist workers share them, so a worker leaves that to the controller,
    which asks once every worker is done (``pytest_sessionfinish``): the first worker to finish
    stopped the warm processes the other still used, which then imported TensorFlow again."""
    yield
    if not _xdist_worker(request.config):
        _stop_warm_processes()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _xdist_worker(session.config) and session.config.getoption("numprocesses", None):
        _stop_warm_processes()  # the xdist controller, after its workers


def _xdist_worker(config: pytest.Config) -> bool:
    """Whether this session is an xdist worker. Not from PYTEST_XDIST_WORKER: a pytest session a
    test starts inherits that variable from its worker, and would then never stop its own."""
    return hasattr(config, "workerinput")


def _stop_warm_processes() -> None:
    warm_start.stop_all()
    warm_builder.stop_all()


@pytest.fixture(scope="session", autouse=True)
def session_postgres() -> Iterator[SessionServer]:
    """The session's PostgreSQL (``throwaway_database`` asks it for the admin DSN): a server it had to
    start is stopped and removed when the session ends, after every other session fixture."""
    try:
        yield SESSION_POSTGRES
    finally:
        SESSION_POSTGRES.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.Stack]:
    """A running stack: brokers ``platform``, ``client-1..3`` and one chain with funded accounts."""
    run_dir: Path = tmp_path_factory.mktemp("kafkaml-run")
    running = local.up(STACK_CLIENTS, run_dir)
    try:
        yield running
    finally:
        local.down(run_dir)


@pytest.fixture(scope="session")
def platform_bootstrap(local_stack: local.Stack) -> str:
    return local_stack.bootstrap("platform")


@pytest.fixture(scope="session")
def rpc_url(local_stack: local.Stack) -> str:
    return local_stack.chain.address


@contextmanager
def throwaway_database() -> Iterator[str]:
    """DSN of a PostgreSQL database created now and dropped after."""
    name = f"kafkaml_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = SESSION_POSTGRES.admin_dsn()
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a database created for this test session and dropped after it."""
    with throwaway_database() as dsn:
        yield dsn


def unique(prefix: str) -> str:
    """A topic or identifier name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def records_in(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` ever received (0 when it does not exist)."""
    partitions = topics.partition_count(bootstrap, topic)
    if partitions is None:
        return 0
    assigned = [TopicPartition(topic, partition) for partition in range(partitions)]
    consumer = kafka.assigned_consumer(bootstrap, assigned)
    try:
        return sum(consumer.end_offsets(assigned).values())
    finally:
        consumer.close()


def without_user_namespaces(command: list[str]) -> list[str]:
    """``command`` as it runs on a machine without user namespaces: the kernel's own switch
    (``user.max_user_namespaces = 0``) set inside a user namespace of the test's, so the machine
    stays as it is. ``BUILDER_SANDBOX=off`` in the environment declares that the machine has none
    already: then the command runs as it is."""
    if os.environ.get("BUILDER_SANDBOX") == "off":
        return command
    return ["unshare", "--user", "--map-root-user", "sh", "-c",
            'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *command]


def require_the_sandbox() -> None:
    """Fail where the builder's sandbox cannot be created, unless ``BUILDER_SANDBOX=off`` in the
    environment declares that this machine has no user namespaces (then skip, saying so)."""
    from kafkaml.builder import sandbox_problem

    if os.environ.get("BUILDER_SANDBOX") == "off":
        pytest.skip("BUILDER_SANDBOX=off declares that this machine cannot create the builder's sandbox")
    problem = sandbox_problem()
    assert problem is None, (f"the builder's sandbox cannot be created here ({problem}): allow unprivileged user "
                             "namespaces (sysctl user.max_user_namespaces > 0), or set BUILDER_SANDBOX=off to "
                             "declare that this machine has none")
