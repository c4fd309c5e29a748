"""The corpus generator (tests/corpus/generate/) against the corpus it wrote (pure, no server).

The written part is seeded: regenerated into a scratch directory it must give
tests/corpus/'s written folders byte for byte, no more and no fewer. So a change to
a template shows here as the corpus files it changes (rerun the generator and
commit them), and a corpus file edited by hand, or left behind by a removed
format, shows as a difference. The real-MTA folders (sidecar "real software")
carry the run's dates and IDs and are not compared; the written part must leave
them as they are.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

from tests.corpus.generate import CORPUS, written

ROOT = Path(__file__).resolve().parent.parent


def folders(root: Path, real: bool) -> dict[str, Path]:
    """``group/folder`` -> path of the written (or the real-software) folders under ``root``."""
    found = {}
    for group in ("backscatter", "ordinary"):
        for folder in sorted((root / group).iterdir()):
            if folder.is_dir() and written.is_real(folder) == real:
                found[f"{group}/{folder.name}"] = folder
    return found


def differences(left: Path, right: Path) -> list[str]:
    """Files that are in one folder only or differ in their bytes (not only in their stat)."""
    cmp = filecmp.dircmp(left, right)
    out = [f"only in {left}: {n}" for n in cmp.left_only] + [f"only in {right}: {n}" for n in cmp.right_only]
    _, mismatch, errors = filecmp.cmpfiles(left, right, cmp.common_files, shallow=False)
    return out + [f"differs: {left / n}" for n in mismatch + errors]


def test_the_written_part_regenerates_byte_for_byte(tmp_path: Path) -> None:
    assert written.main(["--out", str(tmp_path)]) == 0
    made, kept = folders(tmp_path, real=False), folders(CORPUS, real=False)
    assert sorted(made) == sorted(kept)
    assert len(made) > 100
    problems = [p for name in made for p in differences(made[name], kept[name])]
    assert problems == [], "\n".join(problems[:20])


def test_the_written_part_keeps_real_software_folders(tmp_path: Path) -> None:
    real = folders(CORPUS, real=True)
    assert "backscatter/postfix-dsn" in real
    copy = tmp_path / "backscatter" / "postfix-dsn"
    shutil.copytree(real["backscatter/postfix-dsn"], copy)
    stale = tmp_path / "backscatter" / "removed-format"
    stale.mkdir()
    (stale / "removed-format-01.json").write_text('{"generated_by": "written from public description: x"}')
    assert written.main(["--out", str(tmp_path)]) == 0
    assert differences(copy, real["backscatter/postfix-dsn"]) == []
    assert not stale.exists()


def test_the_entry_point_names_every_family() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.corpus.generate", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for family in ("written", "postfix", "exim", "opensmtpd", "sendmail"):
        assert family in out
