"""``sender-ledger purge --older-than DAYS``: delete whole day keys before that age.

Entries expire on their own after ``ledger.lifetime_days``; purge is for
shortening the lifetime at once, or clearing days recorded in error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand
from ledger.observe.timefmt import day_date


def register(sub: Any) -> None:
    parser = subcommand(sub, "purge", "delete the ledger's day keys older than DAYS days")
    parser.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                        help="delete the entries of days more than DAYS days ago (0: all before today)")
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--progress", action="store_true",
                        help="show progress even when stderr is not a terminal")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.days import today
    from ledger.observe.inventory import purge
    from ledger.ops.progress import Progress, wanted

    if args.older_than < 0:
        raise CommandError("--older-than: must be 0 or more days")
    cfg = config_from(args, require_secret=False)
    before = today() - args.older_than
    bar = Progress(sys.stderr, wanted(args.progress, sys.stderr), "purge", 0, unit="keys")
    result = purge(services.open_ledger(cfg), before, dry_run=args.dry_run,
                   on_batch=lambda keys: bar.update(0, keys))
    bar.done(0, result.keys)
    if args.json:
        print(json.dumps({"before": day_date(before), "dry_run": args.dry_run, "keys": result.keys,
                          "entries": result.entries, "days": [day_date(d) for d in result.days]}))
    else:
        verb = "would delete" if args.dry_run else "deleted"
        span = (f" ({day_date(result.days[0])} .. {day_date(result.days[-1])})" if result.days else "")
        print(f"{verb} {result.entries} entries in {result.keys} keys sent before "
              f"{day_date(before)}{span}")
    return 0
