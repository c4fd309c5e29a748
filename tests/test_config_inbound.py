"""The inbound limits and the per-kind [inbound.no_reference] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.config import ConfigError, load_config
from ledger.decide import NO_REFERENCE_DEFAULTS
from ledger.verdict import limits_from, policy_from

SECRET_LINE = '[secret]\nvalue = "0123456789abcdef0123"\n'


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(SECRET_LINE + text)
    return str(path)


def test_sample_config_states_the_code_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDER_LEDGER_SECRET", "x" * 20)
    cfg = load_config(str(Path(__file__).parent.parent / "conf" / "sender-ledger.toml"))
    assert cfg.inbound.no_reference.as_dict() == NO_REFERENCE_DEFAULTS
    assert cfg.inbound.max_bytes == 128 * 1024
    assert cfg.inbound.scan_bytes == 4 * 1024 * 1024
    limits = limits_from(cfg)
    assert (limits.max_depth, limits.max_parts, limits.parse_seconds) == (8, 64, 0.5)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert policy_from(cfg).no_reference == NO_REFERENCE_DEFAULTS
    assert NO_REFERENCE_DEFAULTS["virus"] == NO_REFERENCE_DEFAULTS["challenge"] == "reject"
    assert NO_REFERENCE_DEFAULTS["arf"] == "accept"


def test_one_kind_can_be_overridden(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[inbound.no_reference]\nbounce = "reject"\n'))
    table = policy_from(cfg).no_reference
    assert table["bounce"] == "reject" and table["dsn"] == "tag"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[inbound.no_reference]\nvirus = "bounce"\n', "inbound.no_reference.virus"),
        ('[inbound.no_reference]\nspam = "tag"\n', "inbound.no_reference.spam"),
        ("[inbound]\nno_reference = 3\n", "inbound.no_reference"),
        ("[inbound]\nmax_mime_parts = 0\n", "inbound.max_mime_parts"),
        ("[inbound]\nmax_mime_depth = 1000\n", "inbound.max_mime_depth"),
        ("[inbound]\nparse_seconds = 0\n", "inbound.parse_seconds"),
        ("[inbound]\nscan_bytes = 65536\n", "inbound.scan_bytes"),
        ("[inbound]\nscan_bytes = \"4M\"\n", "inbound.scan_bytes"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert str(info.value).startswith(key)
