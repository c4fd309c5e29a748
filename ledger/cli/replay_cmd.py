"""``sender-ledger replay --sent MAILBOX --received MAILBOX``: a dry run on real mail.

Records the sent mailbox into a scratch namespace, decides the received one
with the inbound milter's code, and shows what would have been refused. The
live ledger is not written; the scratch keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.check import Envelope
from ledger.cli.check_cmd import RCPT_HEADERS
from ledger.cli.common import CommandError, config_from, file_envelope, header_block, subcommand
from ledger.cli.record_cmd import sent_message
from ledger.errors import LedgerUnavailable
from ledger.ops.mailbox import Mailbox, MailboxError, MailItem
from ledger.ops.progress import Progress, wanted
from ledger.ops.replay import Replay, ReplayReport, ScratchLedger


def register(sub: Any) -> None:
    parser = subcommand(sub, "replay", "dry run on mailboxes: what would have been refused")
    parser.add_argument("--sent", metavar="MAILBOX", required=True, action="append",
                        help="mbox file or Maildir of mail the domain sent (repeatable)")
    parser.add_argument("--received", metavar="MAILBOX", required=True, action="append",
                        help="mbox file or Maildir of mail received (repeatable)")
    parser.add_argument("--rcpt", metavar="ADDR", action="append", default=[],
                        help="envelope recipient of every received message, repeatable (default: "
                        "X-Original-To, Delivered-To or To)")
    parser.add_argument("--progress", action="store_true",
                        help="show a progress bar even when stderr is not a terminal")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def _headers(raw: bytes) -> dict[str, str | None]:
    block = header_block(raw)
    return {name: (None if block.get(name) is None else " ".join(str(block.get(name)).split()))
            for name in ("date", "from", "subject")}


def _envelope(raw: bytes, rcpts: list[str] | None = None) -> Envelope:
    """As ``check`` finds it: Return-Path (else From) and the delivery headers."""
    mail_from, found = file_envelope(header_block(raw), None, list(rcpts or []), RCPT_HEADERS)
    return Envelope(mail_from=mail_from, recipients=found)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends a replay like Ctrl-C does, so the scratch keys are still deleted."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.record import Recorder

    cfg = config_from(args)
    try:
        sent_boxes = [Mailbox(p, 64 * 1024) for p in args.sent]
        # Read as far as the inbound milter does (its stream scan goes on past max_bytes).
        received_boxes = [Mailbox(p, cfg.inbound.scan_bytes) for p in args.received]
    except MailboxError as exc:
        raise CommandError(str(exc)) from None
    live = services.open_ledger(cfg)
    live.ping()
    scratch = ScratchLedger.create(live.client, cfg.redis.namespace, cfg.ledger.lifetime_days,
                                   cfg.ledger.bucket_bits)
    hasher = services.hasher_for(cfg)
    inspector = services.inspector_for(cfg, scratch)  # the milter's own limits and policy
    job = Replay(Recorder(scratch, hasher), inspector, scratch, _headers,
                 lambda raw: sent_message(raw, None, []), lambda raw: _envelope(raw, args.rcpt))
    show = wanted(args.progress, sys.stderr)
    try:
        with _sigterm_interrupts():
            for box in sent_boxes:
                _pass(box, "sent", show, job.record_sent)
            for box in received_boxes:
                _pass(box, "received", show, job.decide_received)
    except MailboxError as exc:
        raise CommandError(str(exc)) from None
    finally:
        _drop(scratch)
    if args.json:
        print(json.dumps({"sent_mailboxes": args.sent, "received_mailboxes": args.received,
                          **job.report.as_dict()}))
    else:
        _print(job.report)
    return 0


def _drop(scratch: ScratchLedger) -> None:
    try:
        scratch.drop()
    except LedgerUnavailable as exc:
        print(f"sender-ledger: could not delete the scratch keys {scratch.namespace}:* ({exc}); "
              "they expire within a day", file=sys.stderr)


def _pass(box: Mailbox, what: str, show: bool, step: Any) -> None:
    """Run one replay step over a mailbox, with a progress bar when wanted."""
    bar = Progress(sys.stderr, show, f"{what} {box.path}", box.total)
    count = 0

    def tick(item: MailItem, seen: int) -> None:
        nonlocal count
        count = seen
        bar.update(item.position, seen)

    step(iter(box), tick)
    bar.done(box.total, count)


def _print(report: ReplayReport) -> None:
    not_recorded = sum(report.not_recorded.values())
    print(f"sent: {report.sent} message(s), {report.recorded} recorded into a scratch ledger"
          + (f", {not_recorded} not recorded" if not_recorded else ""))
    for reason, count in report.not_recorded.most_common():
        print(f"  {count:6d}  {reason}")
    partly = f" ({report.truncated} longer than inbound.scan_bytes, read in part)" if report.truncated else ""
    print(f"received: {report.received} message(s) decided{partly}")
    print(f"  {'kind':<12} {'action':<9} {'count':>7}")
    for (kind, action), count in sorted(report.summary.items()):
        print(f"  {kind:<12} {action:<9} {count:>7}")
    print(f"would have been refused: {len(report.refused)}")
    for r in report.refused:
        d = r.decision
        print(f"  {r.label} {r.date} from={r.sender!r} subject={r.subject[:60]!r}")
        print(f"      {d.action} {d.kind or '-'}: {d.reason}"
              + (f" [refs: {', '.join(d.references[:3])}]" if d.references else ""))
