"""``sender-ledger backfill LOGFILE...``: record sent mail from old Postfix logs."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

from ledger.cli.common import CommandError, config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "backfill",
                        "record the mail the domain sent, from Postfix mail logs (plain or gzipped)")
    parser.add_argument("--service", metavar="NAME", action="append", default=[],
                        help="syslog name of a service whose mail counts as sent, e.g. "
                        "postfix/submission/smtpd; repeatable (default: backfill.outbound_services)")
    parser.add_argument("--dry-run", action="store_true", help="read and report, write nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--journal", action="store_true",
                        help="the LOGFILEs (or stdin, or -) hold `journalctl -o json` output, oldest "
                        "first: Debian 12 logs Postfix to the journal only")
    parser.add_argument("--journalctl", action="store_true",
                        help="run `journalctl -o json -u UNIT` itself and read all it has")
    parser.add_argument("--unit", default="postfix*", help="journal unit pattern (default: postfix*)")
    parser.add_argument("--progress", action="store_true",
                        help="show progress even when stderr is not a terminal")
    parser.add_argument("logfiles", nargs="*", metavar="LOGFILE",
                        help="mail logs in any order (rotated and .gz ones too); read oldest first")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.ops.backfill import Backfill, file_size
    from ledger.ops.progress import Progress, wanted

    cfg = config_from(args)
    services_used = tuple(args.service) or cfg.backfill.outbound_services
    if args.journalctl and args.logfiles:
        raise CommandError("backfill: --journalctl reads the journal itself: give no LOGFILE")
    if not (args.logfiles or args.journal or args.journalctl):
        raise CommandError("backfill: give LOGFILE..., or --journal (journalctl -o json on stdin or "
                           "in files), or --journalctl")
    journal = args.journal or args.journalctl
    total = 0 if journal else sum(file_size(path) for path in args.logfiles)  # 0: a plain count
    bar = Progress(sys.stderr, wanted(args.progress, sys.stderr), "backfill", total, unit="recorded")
    job = Backfill(services.recorder_for(cfg), services_used, dry_run=args.dry_run, on_progress=bar.update)
    if args.journalctl:
        with _journalctl(args.unit) as stream:
            report = job.read_journal([(f"journalctl -u {args.unit}", stream)])
    elif args.journal:
        with contextlib.ExitStack() as stack:
            report = job.read_journal(_journal_streams(args.logfiles, stack))
    else:
        report = job.read(args.logfiles)
    bar.done(total, report.recorded)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "outbound_services": list(services_used),
                          **report.as_dict()}))
    else:
        _print(report.as_dict(), args.dry_run, services_used)
    return 1 if any(f.error for f in report.files) else 0


def _print(report: dict[str, Any], dry_run: bool, services_used: tuple[str, ...]) -> None:
    for f in report["files"]:
        print(f"read {f['path']}: {f['lines']} lines" + (f" - ERROR {f['error']}" if f["error"] else ""))
    print(f"outbound services: {', '.join(services_used)}")
    verb = "would record" if dry_run else "recorded"
    print(f"messages: {report['messages']}; {verb} {report['recorded']}"
          + ("" if dry_run else f" ({report['new_entries']} new ledger entries)")
          + (f", of which {report['recorded_unfinished']} not yet removed from the queue at the end "
             "of the logs" if report["recorded_unfinished"] else ""))
    for day, count in report["days"].items():
        print(f"  {day}: {count}")
    skipped = report["skipped"]
    print(f"skipped {sum(skipped.values())}:")
    for reason, count in skipped.items():
        print(f"  {count:8d}  {reason}")
    if report["malformed_lines"] or report["unrecognised_lines"]:
        print(f"lines ignored: {report['malformed_lines']} cut short or garbled, "
              f"{report['unrecognised_lines']} not syslog lines")


def _journal_streams(paths: list[str], stack: contextlib.ExitStack) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, stream) of each journal export named, opened one at a time; none or - is stdin."""
    from ledger.ops import postfix_log as plog

    for path in paths or ["-"]:
        if path == "-":
            yield "stdin", sys.stdin.buffer
            continue
        try:
            stream = stack.enter_context(plog.open_log(path))
        except plog.LogError as exc:
            raise CommandError(f"backfill: {exc}") from None
        yield path, stream


@contextlib.contextmanager
def _journalctl(unit: str) -> Iterator[IO[bytes]]:
    argv = ["journalctl", "-o", "json", "--no-pager", "-u", unit]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise CommandError(f"backfill: cannot run journalctl: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        _, err = proc.communicate(timeout=60)
        if proc.returncode not in (0, None) and err.strip():
            print(f"sender-ledger: journalctl: {err.decode(errors='replace').strip().splitlines()[-1]}",
                  file=sys.stderr)
