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
