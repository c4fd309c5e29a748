"""``sender-ledger import [FILE]``: restore entries written by ``export`` (idempotent)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ledger.cli.common import CommandError, config_from, subcommand

if TYPE_CHECKING:
    from ledger.observe.dump import Entry


def register(sub: Any) -> None:
    parser = subcommand(sub, "import", "restore entries from an export (stdin or FILE); "
                        "importing twice changes nothing")
    parser.add_argument("file", nargs="?", default="-", metavar="FILE",
                        help="the export to read (default: stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--progress", action="store_true",
                        help="show progress even when stderr is not a terminal")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.observe.dump import DumpError, import_entries, read_entries
    from ledger.ops.progress import Progress, wanted

    cfg = config_from(args)
    ledger, hasher = services.open_ledger(cfg), services.hasher_for(cfg)
    name = "stdin" if args.file == "-" else args.file
    try:
        fh = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"{args.file}: {exc.strerror}") from None
    bar = Progress(sys.stderr, wanted(args.progress, sys.stderr), f"import {name}", 0, unit="entries")
    read = 0

    def counted(entries: Iterator[Entry]) -> Iterator[Entry]:
        nonlocal read
        for entry in entries:
            read += 1
            bar.update(0, read)
            yield entry

    try:
        result = import_entries(ledger, counted(read_entries(fh, hasher, name)))
        bar.done(0, read)
    except DumpError as exc:
        raise CommandError(str(exc)) from None
    except UnicodeDecodeError:
        raise CommandError(f"{name}: not UTF-8 text") from None
    finally:
        if fh is not sys.stdin:
            fh.close()
    if args.json:
        print(json.dumps({"read": result.read, "added": result.added, "present": result.present,
                          "expired": result.expired}))
    else:
        print(f"read {result.read} entries: {result.added} added, {result.present} already present, "
              f"{result.expired} skipped as expired")
    return 0
