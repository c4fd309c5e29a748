"""``[srs]``: postsrsd's secret file read as postsrsd reads it; every problem one line naming the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from ledger.config import ConfigError, SecretFileExposed, load_config
from ledger.services import srs_checker_for
from ledger.srs import SrsStatus
from testbed import RedisServer
from tests.test_doctor import run_doctor, write_setup

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SECRET_LINE = '[secret]\nvalue = "config-test-secret-0123456789"\n\n'


def spec_srs0(secret: bytes, local: str = "bob", domain: str = "remote.example") -> str:
    """A fresh SRS0 address by the public format (base64 HMAC-SHA1 of stamp, domain, local part)."""
    day = int(time.time() // 86400) % 1024
    stamp = BASE32[day >> 5] + BASE32[day & 31]
    mac = hmac.new(secret, f"{stamp}{domain}{local}".lower().encode(), hashlib.sha1)
    return f"SRS0={base64.b64encode(mac.digest()).decode()[:4]}={stamp}={domain}={local}@x.test"


def srs_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "postsrsd.secret"
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def config(tmp_path: Path, srs: str) -> str:
    path = tmp_path / "sender-ledger.toml"
    path.write_text(SECRET_LINE + "[srs]\n" + srs)
    return str(path)


def test_srs_is_off_by_default() -> None:
    cfg = load_config(None, require_secret=False)
    assert cfg.srs.secret_file == "" and cfg.srs_secrets == () and srs_checker_for(cfg) is None


def test_the_secret_file_holds_one_secret_a_line(tmp_path: Path) -> None:
    path = srs_file(tmp_path, b"first-secret\r\n\nsecond secret\nthird\n")
    cfg = load_config(config(tmp_path, f'secret_file = "{path}"\nmax_age_days = 10\n'))
    assert cfg.srs_secrets == (b"first-secret", b"second secret", b"third")
    assert b"first-secret" not in repr(cfg).encode()  # secrets stay out of reprs
    checker = srs_checker_for(cfg)
    assert checker is not None and checker.max_age_days == 10
    # an address signed with the second secret verifies
    verdict = checker.check(spec_srs0(b"second secret"), time.time())
    assert verdict is not None and verdict.status == SrsStatus.VALID


@pytest.mark.parametrize(("content", "mode", "message"), [
    (None, 0o600, "srs.secret_file: cannot read {path}: No such file or directory"),
    (b"\n\r\n", 0o600, "srs.secret_file: {path} holds no secret (one per line)"),
    (b"s3cret\n", 0o644, "srs.secret_file: {path} is readable by others (mode 0644); "
                         "run: chmod 640 {path}"),
])
def test_a_bad_secret_file_is_one_line_naming_the_key(
        tmp_path: Path, content: bytes | None, mode: int, message: str) -> None:
    path = tmp_path / "postsrsd.secret" if content is None else srs_file(tmp_path, content, mode)
    with pytest.raises(ConfigError) as refused:
        load_config(config(tmp_path, f'secret_file = "{path}"\n'))
    assert str(refused.value) == message.format(path=path)
    assert isinstance(refused.value, SecretFileExposed) == (mode == 0o644)


@pytest.mark.parametrize(("text", "key"), [
    ('separator = "_"\n', "srs.separator"),
    ("max_age_days = 0\n", "srs.max_age_days"),
    ("max_age_days = 2000\n", "srs.max_age_days"),
    ("hash_length = 0\n", "srs.hash_length"),
    ("hash_length = 4\nhash_min = 5\n", "srs.hash_min"),
    ('secret_file = 7\n', "srs.secret_file"),
    ('secrets = "x"\n', "srs.secrets"),
])
def test_bad_srs_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(config(tmp_path, text))
    assert str(refused.value).startswith(key)


@pytest.mark.parametrize("command", [["check", "--rcpt", "x@example.test", "/dev/null"],
                                     ["milter", "inbound"]])
def test_the_commands_print_one_line_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such.secret"
    result = subprocess.run([sys.executable, "-m", "ledger", *command, "--config",
                             config(tmp_path, f'secret_file = "{missing}"\n')],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sender-ledger: configuration error: srs.secret_file: cannot read {missing}: "
        "No such file or directory"
    ]


def test_check_judges_a_bounce_to_an_srs_address(tmp_path: Path) -> None:
    """``sender-ledger check`` decides as the milter: no Redis is needed for an SRS recipient."""
    path = srs_file(tmp_path, b"check-srs-secret\n")
    good = spec_srs0(b"check-srs-secret")
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(b"From: MAILER-DAEMON@mx.remote.example\r\nSubject: Undelivered Mail\r\n"
                       b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n"
                       b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--B--\r\n")
    cfg = config(tmp_path, f'secret_file = "{path}"\n\n[redis]\nurl = "unix:///nowhere/redis.sock"\n')
    outputs = []
    for rcpt in (good, good.replace("=bob@", "=eve@")):
        result = subprocess.run([sys.executable, "-m", "ledger", "check", "--json", "--config", cfg,
                                 "--mail-from", "", "--rcpt", rcpt, str(bounce)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert '"cause": "srs"' in outputs[0] and '"outcome": "accept"' in outputs[0]
    assert '"cause": "srs forged"' in outputs[1] and '"outcome": "reject"' in outputs[1]
    assert "remote.example" not in outputs[0] + outputs[1]  # the reason names no address


def test_doctor_checks_the_srs_secret_file_on_its_own(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    results = {}
    for name, content, mode in (("good", b"one\ntwo\n", 0o640), ("exposed", b"one\n", 0o644),
                                ("missing", None, 0o600)):
        directory = tmp_path / name
        directory.mkdir()
        path = directory / "postsrsd.secret" if content is None else srs_file(directory, content, mode)
        cfg = write_setup(directory, redis_server.url, extra=f'\n[srs]\nsecret_file = "{path}"\n')
        code, result = run_doctor(cfg, capsys)
        results[name] = (code, by_name_json(result), path)
    code, checks, path = results["good"]
    assert code == 0 and checks["srs"]["status"] == "OK" and "2 secret(s)" in checks["srs"]["reason"]
    assert checks["secret"]["status"] == "OK"  # the site secret's check is not the SRS file's
    code, checks, path = results["exposed"]
    assert code == 1 and checks["srs"]["status"] == "FAIL" and checks["secret"]["status"] == "OK"
    assert checks["srs"]["reason"] == (f"srs.secret_file: {path} is readable by others (mode 0644); "
                                       f"run: chmod 640 {path}")
    code, checks, path = results["missing"]
    assert code == 1 and checks["srs"]["reason"].endswith("No such file or directory")


def by_name_json(result: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in result["checks"]}  # type: ignore[attr-defined]
