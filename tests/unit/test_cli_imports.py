"""`kafkaml --help` and every sub-command's help import no heavy library (issue 11, item 8): the
handlers import what they use. Checked by the modules Python loads, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "web3", "eth_account", "kafka", "kubernetes", "django", "numpy", "scipy", "requests",
         "rich")

# In a fresh interpreter: build the parser, then ask every command for its help, one after the
# other, noting which heavy top-level packages each step brought in.
PROBE = textwrap.dedent("""
    import argparse, contextlib, io, json, sys
    HEAVY = set(sys.argv[1].split(","))
    loaded = lambda: sorted(HEAVY & {name.split(".")[0] for name in sys.modules})
    from kafkaml.cli import build_parser, main
    parser = build_parser()
    found = {"(building the parser)": loaded()}

    def paths(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield [*prefix, name]
                    yield from paths(sub, [*prefix, name])

    commands = [[], *paths(parser, [])]
    for command in commands:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main([*command, "--help"])
        found[" ".join(["kafkaml", *command, "--help"])] = loaded()
    print(json.dumps({"commands": len(commands), "found": found}))
""")


def test_no_help_imports_a_heavy_library() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["commands"] >= 20, report  # every command and action, the platform's included
    assert "kafkaml platform results follow --help" in report["found"]
    assert "kafkaml dataset rat --help" in report["found"]
    heavy = {command: modules for command, modules in report["found"].items() if modules}
    assert not heavy, f"heavy libraries imported while only showing help: {heavy}"


def test_importtime_of_kafkaml_help_shows_no_heavy_module() -> None:
    """The brief's own check: `python -X importtime -m kafkaml.cli --help` and `kafkaml platform --help`."""
    for command in ([], ["platform"], ["platform", "deploy"], ["audit"], ["demo"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kafkaml.cli", *command, "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "usage: kafkaml" in done.stdout, done.stderr[-2000:]
        imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                    for line in done.stderr.splitlines() if line.startswith("import time:") and "|" in line}
        assert "kafkaml" in imported, "no import times: -X importtime did not report"
        assert not imported & set(HEAVY), (command, sorted(imported & set(HEAVY)))
