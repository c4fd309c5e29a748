"""The command-line contract of record, check and lookup, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests import messages


def cli(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger", *args, "--config", str(config_file)],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "ledger", "--help"], capture_output=True, text=True).stdout
    for command in ("milter", "record", "check", "lookup"):
        assert command in out


def test_record_check_lookup_round_trip(tmp_path: Path, config_file: Path) -> None:
    sent = tmp_path / "sent.eml"
    sent.write_bytes(messages.original())
    result = cli(config_file, "record", "--mail-from", "alice@example.test", "--rcpt", "bob@example.com",
                 str(sent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "recorded 1 of 1 message(s)"

    real = tmp_path / "real.eml"
    real.write_bytes(messages.dsn(messages.original()))
    forged = tmp_path / "forged.eml"
    # To an address alice never wrote to: the envelope check (docs/policy.md step 3) cannot rescue it.
    forged.write_bytes(messages.dsn(messages.original(message_id="<forged@example.test>"),
                                    failed="mallory@example.net"))
    plain = tmp_path / "plain.eml"
    plain.write_bytes(messages.ordinary())
    result = cli(config_file, "check", "--json", "--mail-from", "", "--rcpt", "alice@example.test",
                 str(real), str(forged))
    assert result.returncode == 0, result.stderr
    real_out, forged_out = (json.loads(line) for line in result.stdout.splitlines())
    assert set(real_out) == {"file", "action", "candidate", "kind", "references", "matched", "reason",
                             "reply", "outcome", "cause"}
    assert real_out["file"] == str(real)
    assert (real_out["action"], real_out["kind"], real_out["matched"]) == ("accept", "dsn", True)
    assert real_out["references"] == ["orig-1@example.test"] and real_out["reply"] is None
    assert forged_out["action"] == "reject" and forged_out["reply"].startswith("550 5.7.1 ")
    assert forged_out["candidate"] is True and forged_out["matched"] is False

    result = cli(config_file, "check", "--json", "--mail-from", "carol@example.com", str(plain))
    out = json.loads(result.stdout)
    assert (out["action"], out["candidate"], out["kind"]) == ("accept", False, None)

    result = cli(config_file, "lookup", "<ORIG-1@example.test>", "--sender", "Alice@Example.test", "--json")
    assert result.returncode == 0
    looked = json.loads(result.stdout)
    assert looked["found"] is True and looked["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    result = cli(config_file, "lookup", "<never@example.test>", "--sender", "alice@example.test")
    assert result.returncode == 1 and "not in the ledger" in result.stdout


def test_check_handles_hundreds_of_files_quickly(tmp_path: Path, config_file: Path) -> None:
    files = []
    for i in range(400):
        path = tmp_path / f"m{i}.eml"
        path.write_bytes(messages.dsn(messages.original(message_id=f"<bulk-{i}@example.test>")))
        files.append(str(path))
    started = time.monotonic()
    result = cli(config_file, "check", "--json", "--mail-from", "", "--rcpt", "alice@example.test", *files)
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 400
    assert all(json.loads(line)["action"] == "reject" for line in lines)
    assert elapsed < 60  # a generous bound: the benchmark scripts measure speed


def test_operator_errors_are_one_line(tmp_path: Path, config_file: Path) -> None:
    result = cli(config_file, "check", str(tmp_path / "missing.eml"))
    assert result.returncode == 1
    assert result.stderr.strip().endswith("missing.eml: No such file or directory")
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "ledger", "lookup", "<a@b>", "--sender", "a@b",
                             "--config", str(config_file), "--redis", "unix:///nonexistent.sock"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and result.stderr.startswith("sender-ledger: ledger unreachable:")
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli(config_file, "lookup", "<a@b>")
    assert result.returncode == 1 and "--sender" in result.stderr
