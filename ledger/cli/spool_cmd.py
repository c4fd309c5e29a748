"""``sender-ledger spool [status|flush]``: the outbound records waiting for the ledger.

``status`` (the default) shows how many records wait, how much room they
take and how old the oldest is; it needs no Redis. ``flush`` replays every
segment no running milter holds into Redis now and says how many it wrote;
a running outbound milter replays its own active segment by itself.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "spool", "show the outbound spool (records kept while the ledger was away) "
                        "or replay it now")
    parser.add_argument("action", nargs="?", choices=("status", "flush"), default="status",
                        help="status (default) or flush (replay into Redis now)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.drain import drain

    cfg = config_from(args, require_secret=False)
    spool = services.spool_for(cfg)
    out: dict[str, Any] = {}
    if args.action == "flush":
        result = drain(spool, services.open_ledger(cfg), seal=False)
        out["flush"] = {"replayed": result.replayed, "new": result.new, "skipped": result.skipped,
                        "segments": result.segments, "error": result.error}
    status = spool.status()
    out["spool"] = status.as_dict()
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        if "flush" in out:
            f = out["flush"]
            print(f"replayed {f['replayed']} record(s) from {f['segments']} segment(s) "
                  f"({f['new']} new, {f['replayed'] - f['new']} already in the ledger"
                  + (f", {f['skipped']} unreadable line(s) skipped" if f["skipped"] else "") + ")")
        print(describe(status))
    if args.action == "flush" and out["flush"]["error"]:
        raise CommandError(f"the ledger failed during the flush, records kept: {out['flush']['error']}")
    return 0


def describe(status: Any) -> str:
    """One line about a :class:`ledger.spool.SpoolStatus` (also used by ``stats``)."""
    if not status.records:
        return f"spool {status.directory}: empty"
    full = 100 * status.bytes / status.max_bytes if status.max_bytes else 0
    return (f"spool {status.directory}: {status.records} record(s) waiting in {status.segments} "
            f"segment(s), {status.bytes} bytes ({full:.1f}% of the bound), oldest {status.age():.0f} s old")
