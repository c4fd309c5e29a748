"""``sender-ledger check FILE...``: decide files as the inbound milter would.

A dry run: nothing is written to the ledger (a match is not counted). A file
that cannot be read is reported (with ``--json``: ``{"file": ..., "error": ...}``)
and the rest are still decided; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ledger.check import Envelope
from ledger.cli.common import config_from, file_envelope, header_block, subcommand

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
    unreadable = 0
    for path in args.files:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            unreadable += 1
            problem = exc.strerror or str(exc)
            if args.json:
                print(json.dumps({"file": path, "error": problem}))
            else:
                print(f"sender-ledger: {path}: {problem}", file=sys.stderr)
            continue
        mail_from, rcpts = file_envelope(header_block(raw), args.mail_from, list(args.rcpt),
                                         RCPT_HEADERS)
        decision = inspector.inspect(Envelope(mail_from=mail_from, recipients=rcpts), raw)
        if args.json:
            print(json.dumps({"file": path, **decision.as_dict()}), flush=False)
        else:
            reply = f" [{' '.join(decision.reply)}]" if decision.reply else ""
            print(f"{path}: {decision.action} ({decision.kind or 'ordinary'}): "
                  f"{decision.reason}{reply}")
    return 1 if unreadable else 0
