"""A secret file readable or writable by others is refused wherever the secret is read.

As ssh does with private keys: config loading is the choke point, so the
milters and every command stop with one line naming the file and the fix
(exit status 2, as for any configuration error); ``doctor`` reports it as its
``secret`` check and goes on with the others. Group-readable (0640) is fine:
the milter user reads the secret through its group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.config import ConfigError, SecretFileExposed, load_config
from testbed.procs import RedisServer
from tests.conftest import SECRET


def secret_setup(tmp_path: Path, redis_url: str, mode: int) -> tuple[Path, Path]:
    """A secret file of ``mode`` and a config naming it (the config itself private)."""
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, mode)
    config = tmp_path / "sender-ledger.toml"
    config.write_text(f'[secret]\nfile = "{secret}"\n\n[redis]\nurl = "{redis_url}"\n\n'
                      f'[inbound]\nsocket = "unix:{tmp_path}/in.sock"\n')
    os.chmod(config, 0o600)
    return secret, config


@pytest.mark.parametrize(("mode", "problem", "fixed"), [
    (0o644, "readable", "640"),
    (0o604, "readable", "600"),
    (0o602, "writable", "600"),
    (0o666, "readable and writable", "660"),
])
def test_an_exposed_secret_file_is_refused_naming_the_file_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, problem: str, fixed: str) -> None:
    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    secret, config = secret_setup(tmp_path, "unix:///nowhere/redis.sock", mode)
    expected = (f"secret.file: {secret} is {problem} by others (mode {mode:04o}); "
                f"run: chmod {fixed} {secret}")
    with pytest.raises(SecretFileExposed) as refused:
        load_config(str(config))
    assert str(refused.value) == expected
    # Commands that do not insist on a secret (stats, log, purge) still read it: refused too.
    with pytest.raises(SecretFileExposed):
        load_config(str(config), require_secret=False)
    # --secret-file names itself.
    with pytest.raises(ConfigError) as refused:
        load_config(None, secret_file=str(secret))
    assert str(refused.value) == expected.replace("secret.file:", "--secret-file:", 1)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o440])
def test_owner_and_group_only_modes_are_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             mode: int) -> None:
    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    secret, config = secret_setup(tmp_path, "unix:///nowhere/redis.sock", mode)
    assert load_config(str(config)).secret == SECRET.encode()
    assert load_config(None, secret_file=str(secret)).secret == SECRET.encode()


COMMANDS = [
    ["record", "--mail-from", "alice@example.test", "--rcpt", "bob@example.com", "{msg}"],
    ["check", "--json", "{msg}"],
    ["lookup", "<a@example.test>", "--sender", "alice@example.test"],
    ["stats"],
    ["log"],
    ["purge", "--older-than", "400", "--dry-run"],
    ["export", "-o", "{tmp}/export.jsonl"],
    ["import", "{tmp}/empty.jsonl"],
    ["backfill", "--dry-run", "{tmp}/mail.log"],
    ["replay", "--sent", "{tmp}/sent.mbox", "--received", "{tmp}/received.mbox"],
    ["milter", "inbound", "--socket", "unix:{tmp}/in.sock"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_every_command_refuses_it_in_one_line(tmp_path: Path, redis_server: RedisServer,
                                              argv: list[str]) -> None:
    secret, config = secret_setup(tmp_path, redis_server.url, 0o644)
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"From: alice@example.test\r\nMessage-ID: <x@example.test>\r\n\r\nhi\r\n")
    for name in ("empty.jsonl", "mail.log", "sent.mbox", "received.mbox"):
        (tmp_path / name).write_text("")
    args = [a.format(msg=msg, tmp=tmp_path) for a in argv]
    env = {k: v for k, v in os.environ.items() if k != "SENDER_LEDGER_SECRET"}
    result = subprocess.run([sys.executable, "-m", "ledger", *args, "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr == (f"sender-ledger: configuration error: secret.file: {secret} is readable "
                             f"by others (mode 0644); run: chmod 640 {secret}\n")
    assert result.stdout == ""
    assert not (tmp_path / "in.sock").exists()  # the milter never started


def test_doctor_reports_it_as_the_secret_check_and_goes_on(
        tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.cli import main

    monkeypatch.delenv("SENDER_LEDGER_SECRET", raising=False)
    secret, config = secret_setup(tmp_path, redis_server.url, 0o646)
    assert main(["doctor", "--config", str(config), "--no-postfix", "--json"]) == 1
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["config"]["status"] == "OK"
    assert checks["secret"] == {"check": "secret", "status": "FAIL", "reason": (
        f"secret.file: {secret} is readable and writable by others (mode 0646); "
        f"run: chmod 640 {secret}")}
    assert checks["redis"]["status"] == "OK"  # the other checks still ran
    os.chmod(secret, 0o640)
    assert main(["doctor", "--config", str(config), "--no-postfix", "--json"]) == 0
    capsys.readouterr()
