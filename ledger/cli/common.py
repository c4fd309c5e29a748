"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import email
import email.message
import email.policy
from email.utils import getaddresses
from typing import Any

from ledger.config import DEFAULT_CONFIG_PATH, Config, load_config


class CommandError(Exception):
    """An operator-facing error: printed as one line, exit status 1."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """--config, --redis, --secret-file and -v, on every subcommand."""
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: $SENDER_LEDGER_CONFIG, else "
                        f"{DEFAULT_CONFIG_PATH} if it exists)")
    parser.add_argument("--redis", metavar="URL",
                        help="Redis URL, overriding the config (redis://, rediss://, unix://)")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="file holding the site secret (else $SENDER_LEDGER_SECRET or the config)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def config_from(args: argparse.Namespace, require_secret: bool = True) -> Config:
    return load_config(args.config, redis_url=args.redis, secret_file=args.secret_file,
                       require_secret=require_secret)


def subcommand(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    add_common(parser)
    return parser


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None


def header_block(raw: bytes) -> email.message.Message:
    """Only the header section of a message file, parsed leniently."""
    end = min((i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0), default=len(raw))
    return email.message_from_bytes(raw[: end + 1], policy=email.policy.compat32)


def file_envelope(
    headers: email.message.Message,
    mail_from: str | None,
    rcpts: list[str],
    rcpt_headers: tuple[tuple[str, ...], ...],
) -> tuple[str, list[str]]:
    """The envelope of a message file: given on the command line, else from headers.

    The sender defaults to ``Return-Path`` (else the ``From`` address); the
    recipients to the addresses of the first group of ``rcpt_headers`` that has any.
    """
    if mail_from is None:
        mail_from = str(headers.get("Return-Path") or "").strip()
        if not mail_from:
            pairs = getaddresses([str(headers.get("From") or "")])
            mail_from = pairs[0][1] if pairs else ""
    if not rcpts:
        for names in rcpt_headers:
            values = [str(v) for name in names for v in headers.get_all(name, [])]
            rcpts = [addr for _, addr in getaddresses(values) if addr]
            if rcpts:
                break
    return mail_from.strip("<>"), rcpts
