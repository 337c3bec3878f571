"""Shared fixtures: a real local stack (Tansu brokers + Anvil) and a throw-away PostgreSQL database.

``local_stack`` is session-scoped and reused by every test that needs a broker or the chain; it
runs in its own run directory so it never touches a developer's own ``kafkaml local`` stack.
Tests that kill or restart parts must bring up a stack of their own (see ``tests/integration/
test_local_stack.py``) instead of disturbing this one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from kafkaml.local import stack as local

POSTGRES_ADMIN_DSN = os.environ.get("KAFKAML_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
STACK_CLIENTS = 3


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


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a database created for this test session and dropped after it."""
    name = f"kafkaml_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique(prefix: str) -> str:
    """A topic or identifier name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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
