"""Write the written part of tests/corpus/ (seeded: a rerun gives the same files).

    .venv/bin/python -m tests.corpus.generate [written] [--out tests/corpus]

The notices of real MTAs (the ``real_*`` modules) live in their own folders; this
never touches a folder whose sidecars say "real software". Cost: about a second.
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

from tests.corpus.generate import CORPUS, backscatter, ordinary, rerun

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
    """A folder made by real software (the ``real_*`` modules) is kept."""
    return any(REAL_SOFTWARE in sidecar.read_text() for sidecar in folder.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(CORPUS))
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
    print(rerun("written", root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
