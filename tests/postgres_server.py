"""The test session's PostgreSQL: the configured server when one answers, else a throw-away server
started here, so that ``make test`` runs on a fresh machine without a PostgreSQL of its own.

The throw-away server is Debian's PostgreSQL (``/usr/lib/postgresql/*/bin``; ``make setup`` installs
it when it is needed) run from a fresh temporary directory on a free port of 127.0.0.1 with trust
authentication; nothing about it is fixed, so every process (each pytest-xdist worker) gets its own.
PostgreSQL refuses to run as root: as root it runs as the ``postgres`` system user, or ``nobody``.

Run as a script it exits 0 when the configured server answers (``make setup`` asks it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

CONFIGURED_ADMIN_DSN = os.environ.get("KAFKAML_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
INSTALL_HINT = "install Debian's PostgreSQL server (as root: apt-get install -y postgresql), or run 'make setup'"
START_TIMEOUT = 60


def answers(dsn: str) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``dsn``."""
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def binaries() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory (with ``initdb`` and ``pg_ctl``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    if not found:
        raise RuntimeError(f"no PostgreSQL server answers at {CONFIGURED_ADMIN_DSN} and none is installed to "
                           f"start one (no /usr/lib/postgresql/*/bin/initdb): {INSTALL_HINT}")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _server_user() -> str | None:
    """Who runs the server: ``None`` for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return "nobody"


@dataclass(frozen=True)
class Server:
    """A running throw-away server; ``stop`` ends it and removes its directory."""

    directory: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pid(self) -> int:
        """The postmaster's process id (first line of ``postmaster.pid``)."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def run(self, command: list[str]) -> None:
        as_user = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*as_user, *command], cwd=self.directory, capture_output=True, text=True,
                              timeout=START_TIMEOUT)
        if done.returncode != 0:
            log = self.directory / "server.log"
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    def pause(self) -> None:
        """Stop the server, keeping its data (a database server that goes away: :meth:`resume`)."""
        self.run([str(binaries() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"])

    def resume(self) -> None:
        """Start the paused server again, on the same port with the same data."""
        self.run([str(binaries() / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.directory / "server.log"),
                  "-w", "-t", str(START_TIMEOUT)])

    def stop(self) -> None:
        """Stop the server and wait for its process to end (``pg_ctl -w`` returns once the
        postmaster removed its pid file, a moment before it exits), then remove its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                pid = self.pid()
                self.run([str(binaries() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"])
                deadline = time.monotonic() + START_TIMEOUT
                while running(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start() -> Server:
    """Start a throw-away server: its own directory, a free port, trust authentication, no fsync
    (its data dies with it), no Unix socket (the directory Debian's default names is root's)."""
    bin_dir = binaries()
    server = Server(Path(tempfile.mkdtemp(prefix="kafkaml-postgres-")), _free_port(), _server_user())
    try:
        if server.user:
            shutil.chown(server.directory, server.user)
        server.run([str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        settings = {"listen_addresses": "'127.0.0.1'", "port": str(server.port), "unix_socket_directories": "''",
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        with (server.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        server.run([str(bin_dir / "pg_ctl"), "start", "-D", str(server.data), "-l",
                    str(server.directory / "server.log"), "-w", "-t", str(START_TIMEOUT)])
    except BaseException:
        server.stop()
        raise
    return server


class SessionServer:
    """The admin DSN of a test session, decided on first use: the configured server's when it
    answers, else that of a server started then (``stop`` ends it, if one was started)."""

    def __init__(self, configured_dsn: str = CONFIGURED_ADMIN_DSN) -> None:
        self.configured_dsn = configured_dsn
        self.started: Server | None = None
        self._dsn: str | None = None

    def admin_dsn(self) -> str:
        if self._dsn is None:
            if answers(self.configured_dsn):
                self._dsn = self.configured_dsn
            else:
                self.started = start()
                self._dsn = self.started.admin_dsn
        return self._dsn

    def stop(self) -> None:
        if self.started is not None:
            self.started.stop()
        self.started, self._dsn = None, None


if __name__ == "__main__":
    sys.exit(0 if answers(CONFIGURED_ADMIN_DSN) else 1)
