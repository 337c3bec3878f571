"""A Django service's set-up commands (migrations, first administrator, relay token) run in one
interpreter: ``python -m <service> shell -c`` calling each command in turn.

Why one: each ``python -m <service> <command>`` imports Django, DRF and the service's apps before
it does anything, a second or two of processor, and every local start of a backend (the platform's,
each client's, and the tests' many) ran three of them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def run_commands(service: str, env: dict[str, str], commands: Sequence[Sequence[str]],
                 timeout_s: float = 300) -> str:
    """Run the management ``commands`` of ``service`` (a package with a ``__main__``, e.g.
    ``backend``) in order, in one process; one that fails raises ``RuntimeError`` with the end of the output
    (its traceback names the command) and runs none after it."""
    names = " then ".join(command[0] for command in commands)
    done = subprocess.run([sys.executable, "-m", service, "shell", "-c", commands_code(commands)], env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"'python -m {service}' ({names}) failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def commands_code(commands: Sequence[Sequence[str]]) -> str:
    """Python for a Django shell that calls the management ``commands`` in order."""
    return "from django.core.management import call_command\n" + "".join(
        f"call_command(*{list(command)!r})\n" for command in commands)
