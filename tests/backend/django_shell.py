"""One ``python -m <service> shell`` kept running per backend, for the rows the tests write and read
directly (users, dormant results, query counts).

Why: a ``manage(env, "shell", "-c", code)`` is a new interpreter that imports Django, DRF and the
service's apps before it runs a line, about a second and a half of processor each, and the backend
tests make some hundreds of them. Here the snippets go, one at a time, to one process that made
that start once; each runs in a fresh copy of the namespace ``shell -c`` gives its command, prints
what it prints as before, and leaves no database connection open behind it (closed after each
snippet: a server stopped or restarted meanwhile costs the next snippet a new connection, as a new
process would have made one).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

from kafkaml import processes

TIMEOUT_S = 300

#: Starts the shell's answer lines: Django's own start may write to the same output before them
#: ("N objects imported automatically").
MARK = "@kafkaml-test-shell@ "
#: What the shell process runs: read a snippet (a JSON string) per line, answer with a JSON line.
LOOP = f"MARK = {MARK!r}\n" + r'''
import contextlib, io, json, sys, traceback
from django.db import connections
BASE = dict(globals())
answers = sys.stdout
for line in sys.stdin:
    out = io.StringIO()
    ok = True
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(json.loads(line), "<test snippet>", "exec"), dict(BASE))
    except BaseException:
        ok = False
        out.write(traceback.format_exc())
    finally:
        connections.close_all()
    answers.write(MARK + json.dumps({"ok": ok, "out": out.getvalue()}) + "\n")
    answers.flush()
'''


class DjangoShell:
    """``run(code)`` is ``manage(env, "shell", "-c", code)`` of ``service`` without the start-up."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service, self.env, self.log_path = service, env, log_path
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()  # one snippet at a time, whichever thread asks

    def run(self, code: str) -> str:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                with self.log_path.open("ab") as log:
                    self._process = subprocess.Popen(
                        [sys.executable, "-m", self.service, "shell", "-c", LOOP], env=self.env, text=True,
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            watchdog = threading.Timer(TIMEOUT_S, process.kill)  # manage()'s bound on a snippet
            watchdog.start()
            try:
                process.stdin.write(json.dumps(code) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
                while line and not line.startswith(MARK):
                    line = process.stdout.readline()
            except BrokenPipeError:
                line = ""
            finally:
                watchdog.cancel()
            if not line:
                self.close()
                raise RuntimeError(f"the test shell of {self.service} ended:\n{processes.tail(self.log_path, 40)}")
            answer = json.loads(line.removeprefix(MARK))
            if not answer["ok"]:
                raise RuntimeError(f"python -m {self.service} shell -c failed:\n{answer['out']}")
            return answer["out"]

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()  # the loop ends at the end of its input
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
