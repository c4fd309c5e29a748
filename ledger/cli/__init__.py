"""The ``sender-ledger`` command line: one module per subcommand.

Each command module exposes ``register(subparsers)``; errors an operator can
cause (bad config, unreachable Redis, unreadable file) end as one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ledger import __version__
from ledger.cli import (
    backfill_cmd,
    check_cmd,
    doctor_cmd,
    export_cmd,
    follow_cmd,
    import_cmd,
    init_cmd,
    log_cmd,
    lookup_cmd,
    milter_cmd,
    purge_cmd,
    record_cmd,
    replay_cmd,
    report_cmd,
    spool_cmd,
    stats_cmd,
)
from ledger.cli.common import CommandError
from ledger.config import ConfigError
from ledger.errors import LedgerUnavailable

COMMANDS = (milter_cmd, record_cmd, check_cmd, lookup_cmd,
            stats_cmd, log_cmd, purge_cmd, export_cmd, import_cmd,
            backfill_cmd, follow_cmd, replay_cmd, report_cmd, spool_cmd, doctor_cmd, init_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sender-ledger",
        description="Refuse backscatter at SMTP time: record what the domain sends, "
        "accept only bounces and autoreplies of it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"sender-ledger: configuration error: {exc}", file=sys.stderr)
        return 2
    except LedgerUnavailable as exc:
        print(f"sender-ledger: ledger unreachable: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 3
    except CommandError as exc:
        print(f"sender-ledger: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
