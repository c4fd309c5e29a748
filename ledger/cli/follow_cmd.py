"""``sender-ledger follow LOGFILE... | --journal``: record sent mail from live Postfix logs."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from ledger.cli.common import CommandError, config_from, subcommand

DEFAULT_STATE = "/var/lib/sender-ledger/follow.state"
log = logging.getLogger("sender-ledger.follow")


def register(sub: Any) -> None:
    parser = subcommand(sub, "follow",
                        "record the mail the domain sends from Postfix logs as they are written "
                        "(files, across rotation, or the journal)")
    parser.add_argument("--service", metavar="NAME", action="append", default=[],
                        help="syslog name of a service whose mail counts as sent; repeatable "
                        "(default: backfill.outbound_services)")
    parser.add_argument("--state", metavar="FILE", default=DEFAULT_STATE,
                        help=f"where to keep the read position (default: {DEFAULT_STATE})")
    parser.add_argument("--from-start", action="store_true",
                        help="with no saved position, read a file from its start (default: its end)")
    parser.add_argument("--journal", action="store_true",
                        help="read `journalctl -o json` lines from stdin instead of files")
    parser.add_argument("--journalctl", action="store_true",
                        help="with --journal: run `journalctl -o json -f -u UNIT` itself, resuming "
                        "after the saved cursor")
    parser.add_argument("--unit", default="postfix*", help="journal unit pattern (default: postfix*)")
    parser.add_argument("--print-cursor", action="store_true",
                        help="print the saved journal cursor (for journalctl --after-cursor) and exit")
    parser.add_argument("--quiet", action="store_true", help="no status line, only warnings and errors")
    parser.add_argument("--status-every", type=float, default=60.0, metavar="SECONDS",
                        help="log a status line this often (default: 60)")
    parser.add_argument("--expire", type=float, default=3600.0, metavar="SECONDS",
                        help="settle a queue id after this long without a line (default: 3600)")
    parser.add_argument("logfiles", nargs="*", metavar="LOGFILE",
                        help="mail logs to follow, e.g. /var/log/mail.log")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger.ops import follow_state
    from ledger.ops.tail import TailError

    if args.print_cursor:
        try:
            print(follow_state.load(args.state).cursor or "")
        except follow_state.StateError as exc:
            raise CommandError(str(exc)) from None
        return 0
    if bool(args.logfiles) == bool(args.journal):
        raise CommandError("follow: give LOGFILE... or --journal (one of the two)")
    if args.journalctl and not args.journal:
        raise CommandError("follow: --journalctl needs --journal")
    if args.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        return _follow(args)
    except (follow_state.StateError, TailError) as exc:
        raise CommandError(f"follow: {exc}") from None


def _follow(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.drain import Drainer, DrainResult
    from ledger.observe import Observer
    from ledger.observe import counters as ctr
    from ledger.ops.follow import Follower

    cfg = config_from(args)
    ledger = services.open_ledger(cfg)
    spool = services.spool_for(cfg)
    observer = Observer.from_config(cfg, ledger.client, background=True)

    def replayed(result: DrainResult) -> None:
        observer.replayed(dict(result.new_by_day), result.replayed)

    def count_new(day: int) -> None:
        if observer.bookkeeper is not None:
            observer.bookkeeper.count(day, (ctr.RECORDED,))

    drainer = Drainer(spool, ledger, cfg.outbound.spool_retry_seconds, on_result=replayed).start()
    services_used = tuple(args.service) or cfg.backfill.outbound_services
    follower = Follower(services.recorder_for(cfg, ledger, spool), services_used, args.state,
                        count_new=count_new, on_spooled=drainer.wake, expire_seconds=args.expire)
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    journalctl: subprocess.Popen[bytes] | None = None
    try:
        if args.journal:
            if args.journalctl:
                journalctl = _start_journalctl(args.unit, follower.state.cursor)
                assert journalctl.stdout is not None
                follower.add_journal(journalctl.stdout.fileno())
            else:
                follower.add_journal(sys.stdin.fileno())
        for path in args.logfiles:
            follower.add_file(path, args.from_start)
        log.info("following %s for services %s (state %s)",
                 "the journal" if args.journal else ", ".join(args.logfiles),
                 ", ".join(services_used), args.state)
        follower.run(lambda: not stopping, None if args.quiet else args.status_every)
    finally:
        follower.close()
        if journalctl is not None:
            journalctl.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                journalctl.wait(5)
        drainer.stop()
        observer.flush()
        observer.close()
        spool.close()
    log.info("follow stopped: %s", follower.report.summary(follower.in_flight()))
    return 0


def _start_journalctl(unit: str, cursor: str | None) -> subprocess.Popen[bytes]:
    argv = ["journalctl", "-o", "json", "-f", "-u", unit]
    argv += [f"--after-cursor={cursor}"] if cursor else ["-n", "0"]
    try:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise CommandError(f"follow: cannot run journalctl: {exc.strerror or exc}") from None
