"""``sender-ledger check FILE...``: decide files as the inbound milter would.

A dry run: nothing is written to the ledger (a match is not counted).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger.check import Envelope
from ledger.cli.common import config_from, file_envelope, header_block, read_file, subcommand

RCPT_HEADERS = (("X-Original-To",), ("Delivered-To",), ("To",))


def register(sub: Any) -> None:
    parser = subcommand(sub, "check", "decide message files as the inbound milter would (dry run)")
    parser.add_argument("--mail-from", metavar="ADDR",
                        help="envelope sender; '' is the null sender (default: Return-Path, else From)")
    parser.add_argument("--rcpt", metavar="ADDR", action="append", default=[],
                        help="envelope recipient, repeatable (default: X-Original-To, "
                        "Delivered-To or To)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file, per line")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services

    cfg = config_from(args)
    inspector = services.inspector_for(cfg)
    for path in args.files:
        raw = read_file(path)
        mail_from, rcpts = file_envelope(header_block(raw), args.mail_from, list(args.rcpt),
                                         RCPT_HEADERS)
        decision = inspector.inspect(Envelope(mail_from=mail_from, recipients=rcpts), raw)
        if args.json:
            print(json.dumps({"file": path, **decision.as_dict()}), flush=False)
        else:
            reply = f" [{' '.join(decision.reply)}]" if decision.reply else ""
            print(f"{path}: {decision.action} ({decision.kind or 'ordinary'}): "
                  f"{decision.reason}{reply}")
    return 0
