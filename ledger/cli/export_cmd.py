"""``sender-ledger export``: the ledger's hashed entries as JSON lines on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "export", "write the ledger's entries as JSON lines (backup, migration)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--json", action="store_true",
                        help="the closing summary (on stderr) as a JSON object; the export is "
                        "always JSON lines")
    parser.add_argument("--progress", action="store_true",
                        help="show progress even when stderr is not a terminal")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.observe.dump import export_lines
    from ledger.ops.progress import Progress, wanted

    cfg = config_from(args)
    lines = export_lines(services.open_ledger(cfg), services.hasher_for(cfg))
    try:
        out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"{args.output}: {exc.strerror}") from None
    count = -1  # the header is not an entry
    # SCAN finds the keys as it goes: no total, a count only. Never drawn into the export itself.
    bar = Progress(sys.stderr, wanted(args.progress, sys.stderr), "export", 0, unit="entries")
    try:
        for line in lines:
            out.write(line + "\n")
            count += 1
            bar.update(0, count)
        out.flush()
        bar.done(0, count)
    finally:
        if out is not sys.stdout:
            out.close()
    if args.json:
        print(json.dumps({"entries": count, "output": args.output or "-"}), file=sys.stderr)
    else:
        print(f"exported {count} entries", file=sys.stderr)
    return 0
