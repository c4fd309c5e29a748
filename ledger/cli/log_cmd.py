"""``sender-ledger log``: the most recent inbound decisions, newest first."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand
from ledger.observe.timefmt import stamp

ACTIONS = ("accept", "tag", "reject", "tempfail")


def register(sub: Any) -> None:
    parser = subcommand(sub, "log", "the most recent decisions on backscatter candidates")
    parser.add_argument("--action", action="append", choices=ACTIONS, default=[],
                        help="only this action (repeatable)")
    parser.add_argument("--since", metavar="WHEN",
                        help="only decisions since then: 30m, 2h, 1d, 1w ago, or an ISO time (UTC)")
    parser.add_argument("--address", metavar="ADDR",
                        help="only decisions whose envelope sender or a recipient is ADDR")
    parser.add_argument("-n", "--limit", type=int, default=20, metavar="N",
                        help="at most N decisions (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per decision, per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import redis

    from ledger import services
    from ledger.errors import LedgerUnavailable
    from ledger.observe import decision_log
    from ledger.observe.timefmt import parse_since

    since = None
    if args.since:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from None
    if args.limit < 1:
        raise CommandError("--limit: must be at least 1")
    cfg = config_from(args, require_secret=False)
    address = None
    if args.address:
        if cfg.observe.log_addresses != "full" and not cfg.secret:
            raise CommandError("--address: the log keeps addresses as keyed hashes; the site "
                               "secret is needed to compute them (secret.file or --secret-file)")
        address = decision_log.AddressMasker(cfg.secret, cfg.observe.log_addresses).mask(args.address)
    ledger = services.open_ledger(cfg)
    try:
        entries = decision_log.read(ledger.client, cfg.redis.namespace, limit=args.limit, since=since,
                                    actions=frozenset(args.action), address=address)
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    for entry in entries:
        if args.json:
            print(json.dumps(entry.as_dict()))
            continue
        rcpts = ",".join(f"<{r}>" for r in entry.recipients) or "-"
        print(f"{stamp(entry.time)}  {entry.queue_id or '-'}  {entry.client or '-'}  "
              f"<{entry.mail_from}> -> {rcpts}  {entry.kind or '-'}  {entry.action}: {entry.reason}")
    if not entries and not args.json:
        print("no decisions logged" + (" that match" if args.action or since or address else ""))
    return 0

