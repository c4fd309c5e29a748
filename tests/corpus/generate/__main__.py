"""``python -m tests.corpus.generate [FAMILY] [--out DIR]``: write one family of the corpus.

The families and what each needs are in this package's docstring; each family is also
its own module (``python -m tests.corpus.generate.real_postfix`` ...).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tests.corpus.generate import CORPUS, real_exim, real_opensmtpd, real_postfix, real_sendmail, written

FAMILIES: dict[str, Callable[[list[str] | None], int]] = {
    "written": written.main,
    "postfix": real_postfix.main,
    "exim": real_exim.main,
    "opensmtpd": real_opensmtpd.main,
    "sendmail": real_sendmail.main,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.corpus.generate",
        description="Write one family of tests/corpus/ (written: seeded, no root; the others: "
        "a real MTA run as root).",
    )
    parser.add_argument("family", nargs="?", default="written", choices=FAMILIES)
    parser.add_argument("--out", default=str(CORPUS), help="the corpus root (default: tests/corpus)")
    args = parser.parse_args(argv)
    return FAMILIES[args.family](["--out", args.out])


if __name__ == "__main__":
    raise SystemExit(main())
