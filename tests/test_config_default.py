"""Which configuration file applies: --config, $SENDER_LEDGER_CONFIG, then the installed default.

Pure logic: the default path is pointed at a file the test writes, never at /etc.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger import config as config_module
from ledger.cli.common import add_common
from ledger.config import CONFIG_ENV, config_path, load_config
from ledger.ops.doctor import check_config

SECRET_LINE = '[secret]\nvalue = "0123456789abcdef0123"\n'


def write(path: Path, days: int) -> Path:
    path.write_text(f"{SECRET_LINE}[ledger]\nlifetime_days = {days}\n")
    return path


@pytest.fixture()
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A default configuration file in place, and no $SENDER_LEDGER_CONFIG at all."""
    path = write(tmp_path / "etc-sender-ledger.toml", 41)
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", str(path))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    return path


def test_the_default_file_applies_when_nothing_names_one(installed: Path) -> None:
    assert config_path(None) == str(installed)
    cfg = load_config(None)
    assert cfg.source == str(installed) and cfg.ledger.lifetime_days == 41


def test_the_environment_and_then_the_option_come_first(installed: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = write(tmp_path / "env.toml", 42)
    given = write(tmp_path / "given.toml", 43)
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    assert load_config(None).ledger.lifetime_days == 42
    assert load_config(str(given)).ledger.lifetime_days == 43


def test_set_but_empty_means_built_in_defaults_whatever_is_installed(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, "")
    cfg = load_config(None, require_secret=False)
    assert cfg.source == "<defaults>" and cfg.ledger.lifetime_days == 30
    monkeypatch.delenv(CONFIG_ENV)
    assert load_config("", require_secret=False).source == "<defaults>"  # --config ''


def test_no_default_file_means_built_in_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent.toml"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert config_path(None) is None
    assert load_config(None, require_secret=False).source == "<defaults>"


def test_an_unreadable_default_file_is_a_one_line_error(installed: Path) -> None:
    installed.write_text("[ledger\n")
    with pytest.raises(config_module.ConfigError, match=f"config: {installed} is not valid TOML"):
        load_config(None)


def test_doctor_names_the_file_it_found(installed: Path) -> None:
    check, cfg = check_config(None, None)
    assert (check.status, check.reason) == ("OK", f"{installed} is valid") and cfg is not None


def test_the_suite_itself_never_sees_a_system_file() -> None:
    # conftest sets it for this process and every command a test starts
    assert os.environ.get(CONFIG_ENV) == ""


def test_help_names_the_default() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_common(parser)
    assert "/etc/sender-ledger/sender-ledger.toml" in parser.format_help()
