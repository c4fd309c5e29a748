#!/usr/bin/env python3
"""Write the generated part of tests/corpus/ (seeded: a rerun gives the same files).

    .venv/bin/python scripts/make_corpus.py [--out tests/corpus]

The Postfix-made DSNs come from scripts/make_corpus_postfix.py and live in their
own folders; this script never touches a folder whose sidecars say "real software".
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.corpusgen import backscatter, ordinary

REAL_SOFTWARE = '"generated_by": "real software: '


def clean(root: Path) -> None:
    """Remove earlier generated folders, keeping the real-software ones."""
    for group in ("backscatter", "ordinary"):
        base = root / group
        if not base.is_dir():
            continue
        for folder in base.iterdir():
            if folder.is_dir() and not is_real(folder):
                shutil.rmtree(folder)


def is_real(folder: Path) -> bool:
    """A folder made by real software (scripts/make_corpus_postfix.py) is kept."""
    return any(REAL_SOFTWARE in sidecar.read_text() for sidecar in folder.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "corpus"))
    args = parser.parse_args(argv)
    root = Path(args.out)
    clean(root)
    counts: Counter[tuple[str, str]] = Counter()
    for sample in [*backscatter.samples(), *ordinary.samples()]:
        sample.write(root)
        counts[(sample.group, sample.folder)] += 1
    for group in ("backscatter", "ordinary"):
        folders = {f: n for (g, f), n in counts.items() if g == group}
        print(f"{group}: {sum(folders.values())} messages in {len(folders)} folders")
    print(f"rerun: {Path(sys.argv[0]).as_posix()} --out {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
