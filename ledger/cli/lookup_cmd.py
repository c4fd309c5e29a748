"""``sender-ledger lookup MESSAGE-ID --sender ADDR``: is a sent message in the ledger?"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger import addresses, msgid
from ledger.cli.common import CommandError, config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "lookup", "is a message in the ledger, and since which day")
    parser.add_argument("message_id", metavar="MESSAGE-ID")
    parser.add_argument("--sender", metavar="ADDR",
                        help="the original's envelope sender or From address (entries are "
                        "bound to it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services

    normalised = msgid.normalise(args.message_id)
    if not normalised or "@" not in normalised:
        raise CommandError(f"{args.message_id!r} is not a Message-ID")
    if not args.sender:
        raise CommandError("entries are bound to their sender: pass --sender ADDR "
                           "(the original's envelope sender or From address)")
    sender = addresses.normalise(args.sender)
    cfg = config_from(args)
    ledger = services.open_ledger(cfg)
    entry = services.hasher_for(cfg).message(normalised, sender)
    match = ledger.find([entry]).get(entry)
    result = {
        "message_id": normalised,
        "sender": sender,
        "found": match is not None,
        "day": match.date if match else None,
        "recipients": match.recipients if match else None,
        "matches": match.matches if match else None,
    }
    if args.json:
        print(json.dumps(result))
    elif match:
        print(f"<{normalised}> from {sender}: in the ledger since {match.date} "
              f"({match.recipients} recipient(s), {match.matches} bounce(s) matched so far)")
    else:
        print(f"<{normalised}> from {sender}: not in the ledger")
    return 0 if match else 1
