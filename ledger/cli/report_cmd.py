"""``sender-ledger report``: what a tag trial shows, and whether reject mode is safe yet."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "report", "a trial's summary (run with unmatched_action = \"tag\"): "
                        "what would have been refused, by kind and recipient, and whether it is safe "
                        "to switch to reject")
    parser.add_argument("--days", type=int, default=7, metavar="N",
                        help="the last N days, today included (default 7; the decision log keeps "
                        "observe.log_days, the counters observe.counter_days)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--html", metavar="FILE",
                        help="also write a self-contained HTML page (with a chart) to FILE")
    parser.add_argument("--min-days", type=int, default=7, metavar="N",
                        help="days of activity the trial needs before it can be safe (default 7)")
    parser.add_argument("--min-decisions", type=int, default=20, metavar="N",
                        help="bounces decided the trial needs before it can be safe (default 20)")
    parser.add_argument("--max-per-recipient", type=int, default=5, metavar="N",
                        help="a recipient with N or more would-be refusals stands in the way until "
                        "reviewed (default 5)")
    parser.add_argument("--reviewed", metavar="ADDRESS", action="append", default=[],
                        help="a recipient checked by the operator (its refusals are right): the "
                        "address, or its stored form h:...; repeatable")
    parser.add_argument("--progress", action="store_true",
                        help="show progress even when stderr is not a terminal")
    parser.set_defaults(func=run)


def _reviewed(args: argparse.Namespace, secret: bytes, mode: str) -> frozenset[str]:
    """The --reviewed recipients in the form the log stores them."""
    from ledger.observe.decision_log import HASH_PREFIX, AddressMasker

    masker = AddressMasker(secret, mode)
    out = set()
    for value in args.reviewed:
        if value.startswith(HASH_PREFIX) or mode == "full":
            out.add(value.strip().lower() if mode == "full" else value.strip())
        elif not secret:
            raise CommandError("--reviewed: the log keeps addresses as keyed hashes; the site secret "
                               "is needed to compute them (or give the stored form h:...)")
        else:
            out.add(masker.mask(value))
    return frozenset(out)


def run(args: argparse.Namespace) -> int:
    import redis

    from ledger import services
    from ledger.errors import LedgerUnavailable
    from ledger.ops import report, report_html, report_text, report_verdict
    from ledger.ops.progress import Progress, wanted

    for name in ("days", "min_days", "min_decisions", "max_per_recipient"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')}: must be at least 1")
    cfg = config_from(args, require_secret=False)
    limits = report_verdict.Thresholds(args.min_days, args.min_decisions, args.max_per_recipient,
                                       _reviewed(args, cfg.secret, cfg.observe.log_addresses))
    ledger = services.open_ledger(cfg)
    bar = Progress(sys.stderr, wanted(args.progress, sys.stderr), "report: reading the log", 1,
                   unit="decisions")
    seen = 0

    def on_page(read: int, total: int) -> None:
        nonlocal seen
        seen = read
        bar.total = max(total, 1)
        bar.update(read, read)

    try:
        trial = report.gather(ledger.client, cfg.redis.namespace, window=args.days,
                              unmatched_action=cfg.inbound.unmatched_action,
                              log_addresses=cfg.observe.log_addresses, on_page=on_page)
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    bar.done(bar.total, seen)
    spool = services.spool_for(cfg).status()
    trial.spool_records, trial.spool_oldest_seconds = spool.records, spool.age()
    verdict = report_verdict.judge(trial, limits)
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as fh:
                fh.write(report_html.render(trial, verdict))
        except OSError as exc:
            raise CommandError(f"{args.html}: {exc.strerror}") from None
    if args.json:
        print(json.dumps({**trial.as_dict(), "thresholds": limits.as_dict(),
                          "verdict": verdict.as_dict()}))
    else:
        sys.stdout.write(report_text.render(trial, verdict))
    return 0
