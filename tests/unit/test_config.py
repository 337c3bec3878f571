"""Settings parsing: defaults, types, ranges and secrets, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaml.config import ConfigError, Setting, SettingGroup, read_secret


def test_default_applies_when_unset_or_empty() -> None:
    setting = Setting("BATCH", "batch size", kind="int", default=32, minimum=1)
    assert setting.read({}) == 32
    assert setting.read({"BATCH": ""}) == 32
    assert setting.read({"BATCH": "64"}) == 64


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (Setting("BATCH", "b", kind="int", default=1, minimum=1), "abc", "BATCH='abc' is not a valid int"),
        (Setting("BATCH", "b", kind="int", default=1, minimum=1), "0", "BATCH=0 must be at least 1"),
        (Setting("RATE", "r", kind="float", default=0.1, maximum=0.9), "0.95", "RATE=0.95 must be at most 0.9"),
        (Setting("MODE", "m", default="a", choices=("a", "b")), "c", "MODE='c' must be one of: a, b"),
        (Setting("FLAG", "f", kind="bool", default=False), "maybe", "FLAG='maybe' is not a valid bool"),
        (Setting("KWARGS", "k", kind="json", default={}), "{bad", "KWARGS='{bad' is not a valid json"),
    ],
)
def test_bad_values_are_reported_with_the_variable_name(setting: Setting, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("{", r"\{")):
        setting.read({setting.name: value})


def test_required_setting_says_what_it_is_for() -> None:
    with pytest.raises(ConfigError, match="DATA_TOPIC is required but not set: topic of the data"):
        Setting("DATA_TOPIC", "topic of the data").read({})


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        Setting("TOKEN", "t", kind="int", default=0, secret=True).read({"TOKEN": "s3cr3t"})
    assert "s3cr3t" not in str(caught.value)
    assert "<hidden>" in str(caught.value)


def test_group_reports_every_bad_variable_at_once() -> None:
    group = SettingGroup("Trainer", [Setting("A", "a", kind="int"), Setting("B", "b", kind="float", default=1.0)])
    with pytest.raises(ConfigError) as caught:
        group.load({"B": "x"})
    assert "A is required" in str(caught.value) and "B='x'" in str(caught.value)
    assert group.load({"A": "3"}) == {"A": 3, "B": 1.0}


def test_read_secret_prefers_the_file_and_never_leaks_the_value(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("0xabc\n")
    assert read_secret("ETH_WALLET_KEY", {"ETH_WALLET_KEY_FILE": str(key_file), "ETH_WALLET_KEY": "0xdef"}) == "0xabc"
    assert read_secret("ETH_WALLET_KEY", {"ETH_WALLET_KEY": "0xdef"}) == "0xdef"
    with pytest.raises(ConfigError, match="cannot be read"):
        read_secret("ETH_WALLET_KEY", {"ETH_WALLET_KEY_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("  ")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret("ETH_WALLET_KEY", {"ETH_WALLET_KEY_FILE": str(tmp_path / "empty")})
    with pytest.raises(ConfigError, match="set ETH_WALLET_KEY_FILE") as caught:
        read_secret("ETH_WALLET_KEY", {})
    assert "0x" not in str(caught.value)
