"""``sender-ledger record FILE...``: record message files as sent mail."""

from __future__ import annotations

import argparse
from typing import Any

from ledger.cli.common import config_from, file_envelope, header_block, read_file, subcommand
from ledger.record import SentMessage


def register(sub: Any) -> None:
    parser = subcommand(sub, "record", "record message files as mail the domain sent")
    parser.add_argument("--mail-from", metavar="ADDR",
                        help="envelope sender (default: the file's Return-Path, else From)")
    parser.add_argument("--rcpt", metavar="ADDR", action="append", default=[],
                        help="envelope recipient, repeatable (default: To and Cc)")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.set_defaults(func=run)


def sent_message(raw: bytes, mail_from: str | None, rcpts: list[str]) -> SentMessage:
    headers = header_block(raw)
    sender, recipients = file_envelope(headers, mail_from, rcpts, (("To", "Cc"),))
    mid, frm = headers.get("Message-ID"), headers.get("From")
    return SentMessage(
        mail_from=sender,
        recipients=recipients,
        message_id=None if mid is None else str(mid),
        from_header=None if frm is None else str(frm),
    )


def run(args: argparse.Namespace) -> int:
    from ledger import services

    cfg = config_from(args)
    recorder = services.recorder_for(cfg)
    recorded = 0
    for path in args.files:
        sent = sent_message(read_file(path), args.mail_from, list(args.rcpt))
        result = recorder.record(sent)
        if result.entries:
            recorded += 1
        else:
            print(f"{path}: not recorded: {result.reason}")
    print(f"recorded {recorded} of {len(args.files)} message(s)")
    return 0
