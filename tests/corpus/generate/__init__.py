"""The generator of tests/corpus/: it writes the corpus it lives in.

    .venv/bin/python -m tests.corpus.generate [FAMILY] [--out tests/corpus]

Run from the repository's root (the modules import ``ledger``, ``testbed`` and
``tests.corpus.generate``). FAMILY is ``written`` (the default: every sample written
from public descriptions, seeded, so a rerun gives the same bytes) or one of the
real MTAs that make their own notices as root: ``postfix``, ``exim``, ``opensmtpd``,
``sendmail`` (dates, queue IDs and boundaries come from the run; the originals and
expectations are seeded). The written part never touches a folder whose sidecars say
"real software", and a real MTA writes only its own folders.

Modules: ``common`` (originals, sidecars and the expected outcomes worked out from
docs/policy.md), ``cases`` (the shared case and builder types), one module per family
of written formats (``textbounces``, ``reports``, ``notices``, ``subscriptions``,
``replies``, ``realworld``; ``ordinary`` and ``ordinary_more`` for the mail that is
never backscatter; ``backscatter`` gathers them), ``written`` (the seeded writer),
``realmta`` and ``pysink`` (what the real-MTA runs share) and one ``real_<mta>``
module per MTA.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent
"""tests/corpus/, the default output of every family."""


def rerun(family: str, out: str | Path) -> str:
    """The command line that makes ``family`` again into ``out``, for the closing line."""
    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = sys.executable
    return f"rerun: {python} -m tests.corpus.generate {family} --out {out}"
