"""``sender-ledger stats``: what the ledger holds and what the milters did, per day."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger.cli.common import config_from, subcommand
from ledger.observe.timefmt import day_date


def register(sub: Any) -> None:
    parser = subcommand(sub, "stats", "live entries per sending day, memory, and per-day decision counts")
    parser.add_argument("--days", type=int, default=7, metavar="N",
                        help="show the counters of the last N days (default 7)")
    parser.add_argument("--sample", type=int, default=1000, metavar="KEYS",
                        help="measure memory on at most this many keys, scaled by entries "
                        "(default 1000; exact below that)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def gather(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from ledger import services
    from ledger.days import today
    from ledger.errors import LedgerUnavailable
    from ledger.observe import counters, inventory

    cfg = config_from(args, require_secret=False)
    ledger = services.open_ledger(cfg)
    inv = inventory.take_inventory(ledger, sample=max(1, args.sample))
    try:
        last = today()
        days = counters.read_days(ledger.client, cfg.redis.namespace,
                                  list(range(last, last - max(1, args.days), -1)))
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    return {
        "namespace": cfg.redis.namespace,
        "entries": inv.entries,
        "keys": inv.keys,
        "memory_bytes": inv.memory_bytes,
        "memory_exact": inv.memory_exact,
        "memory_sampled_keys": inv.sampled_keys,
        "bytes_per_entry": round(inv.bytes_per_entry, 2),
        "redis_used_memory": inventory.redis_used_memory(ledger.client),
        "spread": [
            {"day": day_date(s.day), "entries": s.entries, "keys": s.keys, "kinds": s.by_kind}
            for s in sorted(inv.days.values(), key=lambda s: -s.day)
        ],
        "days": [d.as_dict() for d in days],
        "spool": services.spool_for(cfg).status().as_dict(),
    }


def run(args: argparse.Namespace) -> int:
    stats = gather(args)
    if args.json:
        print(json.dumps(stats))
        return 0
    how = "exact" if stats["memory_exact"] else f"estimated from {stats['memory_sampled_keys']} keys"
    print(f"ledger '{stats['namespace']}': {stats['entries']} live entries in {stats['keys']} keys, "
          f"{size(stats['memory_bytes'])} ({stats['bytes_per_entry']} B/entry, {how}); "
          f"Redis uses {size(stats['redis_used_memory'])} in all")
    if stats["spread"]:
        print("\nsent on        entries   keys")
        for s in stats["spread"]:
            print(f"{s['day']}  {s['entries']:>9} {s['keys']:>6}")
    spool = stats["spool"]
    print(f"spool {spool['directory']}: " + (
        f"{spool['records']} record(s) waiting for the ledger, oldest {spool['oldest_age_seconds']:.0f} s old"
        if spool["records"] else "empty"))
    print("\nday         recorded candidates matched unmatched failed rejected tempfailed tagged"
          "  main causes")
    for d in stats["days"]:
        causes = "; ".join(f"{r}: {n}" for r, n in list(d["causes"].items())[:3]) or "-"
        print(f"{d['day']}  {d['recorded']:>8} {d['candidates']:>10} {d['matched']:>7} "
              f"{d['unmatched']:>9} {d['failed']:>6} {d['rejected']:>8} {d['tempfailed']:>10} "
              f"{d['tagged']:>6}  {causes}")
    used = [d for d in stats["days"] if any(d["exceptions"].values())]
    if used:
        print("\nexceptions used ([inbound.exceptions])")
        for d in used:
            print(f"{d['day']}  " + "; ".join(f"{c}: {n}" for c, n in d["exceptions"].items()))
    return 0
