"""Configuration: defaults, overrides, and one-line errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.config import ConfigError, load_config

SECRET_LINE = '[secret]\nvalue = "0123456789abcdef0123"\n'


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_defaults_and_sample_config_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDER_LEDGER_SECRET", "x" * 20)
    cfg = load_config(str(Path(__file__).parent.parent / "conf" / "sender-ledger.toml"))
    assert cfg.ledger.lifetime_days == 30
    assert cfg.inbound.unmatched_action == "reject"
    assert cfg.inbound.unreachable_action == "tempfail"


def test_redis_override_and_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    cfg = load_config(write(tmp_path, SECRET_LINE), redis_url="redis://127.0.0.1:6399/2")
    assert cfg.redis.url == "redis://127.0.0.1:6399/2"
    assert cfg.secret == b"0123456789abcdef0123"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-0123456789\n")
    secret_file.chmod(0o600)  # an exposed one is refused: tests/test_secret_file.py
    cfg = load_config(write(tmp_path, SECRET_LINE), secret_file=str(secret_file))
    assert cfg.secret == b"from-a-file-0123456789"
    monkeypatch.setenv("SENDER_LEDGER_SECRET", "from-the-environment-123")
    assert load_config(write(tmp_path, SECRET_LINE)).secret == b"from-the-environment-123"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ledger]\nlifetime_days = 0\n", "ledger.lifetime_days"),
        ('[ledger]\nlifetime_days = "30"\n', "ledger.lifetime_days"),
        ('[inbound]\nunmatched_action = "bounce"\n', "inbound.unmatched_action"),
        ('[inbound]\nunreachable_action = "reject"\n', "inbound.unreachable_action"),
        ('[redis]\nurl = "http://x"\n', "redis.url"),
        ("[redis]\nspeed = 3\n", "redis.speed"),
        ("[redis]\nwait_replicas = -1\n", "redis.wait_replicas"),
        ("[redis]\ncluster = true\nwait_replicas = 1\n", "redis.wait_replicas"),
        ("[redis]\nwait_timeout_ms = 0\n", "redis.wait_timeout_ms"),  # WAIT 0 blocks forever
        ("[redis]\nwait_timeout_ms = 500\n", "redis.wait_timeout_ms"),  # not below socket_timeout
        ("[nonsense]\n", "nonsense"),
        ('[outbound]\nsocket = "/tmp/x.sock"\n', "outbound.socket"),
        ("[ledger\n", "config"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, SECRET_LINE + text))
    assert str(info.value).startswith(key)


def test_missing_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"^secret: no site secret"):
        load_config(write(tmp_path, ""))
    with pytest.raises(ConfigError, match=r"^secret\.value: must be a string of at least 16 bytes"):
        load_config(write(tmp_path, '[secret]\nvalue = "short"\n'))


def test_command_line_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, SECRET_LINE + "[ledger]\nbucket_bits = 40\n")
    result = subprocess.run([sys.executable, "-m", "ledger", "lookup", "<a@b>", "--sender", "a@b",
                             "--config", path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sender-ledger: configuration error: ledger.bucket_bits: must be between 0 and 16"
    ]


def test_per_kind_unmatched_exceptions(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, SECRET_LINE + '[inbound.unmatched]\narf = ""\nvirus = "tag"\n'))
    assert cfg.inbound.unmatched.as_dict() == {"virus": "tag"}
    with pytest.raises(ConfigError, match=r"^inbound\.unmatched\.mdn: must be one of"):
        load_config(write(tmp_path, SECRET_LINE + '[inbound.unmatched]\nmdn = "bounce"\n'))
