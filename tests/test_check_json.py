"""``sender-ledger check --json`` keeps its contract with the new kinds (real Redis)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import samples

KEYS = {"file", "action", "outcome", "cause", "candidate", "kind", "references", "matched", "reason",
        "reply"}


def test_check_json_reports_new_kinds(tmp_path: Path, config_file: Path) -> None:
    files = {"qmail.eml": samples.qmail(), "virus.eml": samples.mailscanner_virus(),
             "confirm.eml": samples.mailman_confirm()}
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "check", "--json", "--config", str(config_file), "--mail-from", "",
         "--rcpt", "alice@example.test", *(str(tmp_path / name) for name in files)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(row) == KEYS for row in rows)
    by_name = {Path(row["file"]).name: row for row in rows}
    assert by_name["qmail.eml"]["kind"] == "bounce" and by_name["qmail.eml"]["action"] == "reject"
    assert by_name["qmail.eml"]["references"] == [samples.ORIG_ID]
    assert by_name["virus.eml"]["kind"] == "virus"
    assert by_name["confirm.eml"]["kind"] == "subscription" and by_name["confirm.eml"]["action"] == "accept"


def test_an_unreadable_file_in_a_batch_is_reported_and_the_rest_decided(
        tmp_path: Path, config_file: Path) -> None:
    """Root reads any file, so "unreadable" is a directory, a dangling symlink, a missing path."""
    good = [tmp_path / "first.eml", tmp_path / "last.eml"]
    for path in good:
        path.write_bytes(samples.qmail())
    directory = tmp_path / "a-directory.eml"
    directory.mkdir()
    dangling = tmp_path / "dangling.eml"
    dangling.symlink_to(tmp_path / "gone.eml")
    missing = tmp_path / "missing.eml"
    batch = [good[0], directory, dangling, missing, good[1]]
    base = [sys.executable, "-m", "ledger", "check", "--config", str(config_file), "--mail-from", "",
            "--rcpt", "alice@example.test"]
    result = subprocess.run([*base, "--json", *map(str, batch)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["file"] for row in rows] == [str(p) for p in batch]  # in order, none skipped
    assert rows[1] == {"file": str(directory), "error": "Is a directory"}
    assert rows[2] == {"file": str(dangling), "error": "No such file or directory"}
    assert rows[3] == {"file": str(missing), "error": "No such file or directory"}
    for row in (rows[0], rows[4]):
        assert set(row) == KEYS and row["kind"] == "bounce" and row["action"] == "reject"

    human = subprocess.run([*base, *map(str, batch)], capture_output=True, text=True, timeout=60)
    assert human.returncode == 1
    assert human.stderr.splitlines() == [f"sender-ledger: {directory}: Is a directory",
                                         f"sender-ledger: {dangling}: No such file or directory",
                                         f"sender-ledger: {missing}: No such file or directory"]
    decided = human.stdout.splitlines()
    assert [line.split(":")[0] for line in decided] == [str(good[0]), str(good[1])]
    assert all(": reject (bounce): " in line for line in decided)
