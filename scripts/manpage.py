#!/usr/bin/env python3
"""Render the ``sender-ledger`` command line's argparse help as a man page (roff, section 1).

The Debian package builds ``sender-ledger.1`` with this at build time, so the
man page says what ``sender-ledger --help`` and each ``sender-ledger COMMAND
--help`` say and can never drift from them. Options every command takes
(``--config``, ``--redis``, ...) are listed once, under COMMON OPTIONS.

Usage: ``scripts/manpage.py [-o FILE]`` (default: stdout). The date in the
header comes from ``$SOURCE_DATE_EPOCH`` when set (dpkg-buildpackage sets it
from debian/changelog), so the page is reproducible.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

# What the page says beyond argparse's help: where things are, and the exit statuses.
FILES = (
    ("/etc/sender-ledger/sender-ledger.toml",
     "the configuration, used when neither --config nor $SENDER_LEDGER_CONFIG is given"),
    ("/etc/sender-ledger/secret", "the site secret (mode 0640, group sender-ledger)"),
    ("/var/lib/sender-ledger/spool", "records kept while the ledger was unreachable (outbound.spool_dir)"),
    ("/usr/share/sender-ledger/", "the Redis settings (redis-ledger.conf) and the Postfix snippets"),
)
ENVIRONMENT = (
    ("SENDER_LEDGER_CONFIG", "the configuration file when --config is not given; set but empty: "
     "no file, the built-in defaults"),
    ("SENDER_LEDGER_SECRET", "the site secret itself, before the config's secret.file or secret.value"),
)
EXIT_STATUS = (
    ("0", "fine"),
    ("1", "an operator error, printed as one line (doctor: a check FAILed)"),
    ("2", "a configuration error; the line names the key"),
    ("3", "the ledger (Redis) is unreachable"),
)


def escape(text: str) -> str:
    """Text for roff: backslashes and hyphens escaped, no line taken for a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = [("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines()]
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the order --help lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]


def _invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._format_action_invocation(action)


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return parser._get_formatter()._expand_help(action)


def _items(parser: argparse.ArgumentParser, actions: list[argparse.Action]) -> list[str]:
    out: list[str] = []
    for action in actions:
        out += [".TP", f"\\fB{escape(_invocation(parser, action))}\\fR"]
        text = _help(parser, action)
        if action.choices and not action.option_strings:
            text = f"one of: {', '.join(map(str, action.choices))}. {text}".strip()
        out.append(escape(text) if text else "")
    return out


def _key(action: argparse.Action) -> tuple[str, ...]:
    return tuple(action.option_strings) or (action.dest,)


def render(parser: argparse.ArgumentParser, version: str, date: str) -> str:
    """The whole man page for ``parser`` (the program's top-level parser)."""
    prog = parser.prog
    commands = _subcommands(parser)
    common: set[tuple[str, ...]] = set.intersection(
        *({_key(a) for a in _options(sub) if a.option_strings} for _, _, sub in commands)
    ) if commands else set()
    description = parser.description or ""
    out = [
        f'.TH {prog.upper()} 1 "{date}" "{prog} {version}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {escape(description.rstrip('.'))}",
        ".SH SYNOPSIS",
        f".B {prog}",
        ".I COMMAND",
        "[\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]",
        ".SH DESCRIPTION",
        escape(description),
        f"Each command has its own help: \\fB{prog} \\fICOMMAND\\fB \\-\\-help\\fR.",
        ".SH OPTIONS",
        *_items(parser, _options(parser)),
    ]
    if commands:
        first = commands[0][2]
        out += [".SH COMMON OPTIONS", "Every command takes these:",
                *_items(first, [a for a in _options(first) if _key(a) in common])]
        out.append(".SH COMMANDS")
    for name, summary, sub in commands:
        usage = " ".join(sub.format_usage().split())
        usage = usage.removeprefix("usage: ")
        out += [f".SS {name}", escape(summary) + ".", ".PP", f"\\fB{escape(usage)}\\fR"]
        out += _items(sub, [a for a in _options(sub) if _key(a) not in common])
    out.append(".SH FILES")
    for path, what in FILES:
        out += [".TP", f"\\fI{escape(path)}\\fR", escape(what)]
    out.append(".SH ENVIRONMENT")
    for var, what in ENVIRONMENT:
        out += [".TP", f"\\fB{var}\\fR", escape(what)]
    out.append(".SH EXIT STATUS")
    for code, what in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", escape(what)]
    return "\n".join(line for line in out) + "\n"


def page_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch) if epoch else time.time()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render sender-ledger's --help as a man page")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    args = parser.parse_args(argv)
    from ledger import __version__
    from ledger.cli import build_parser

    page = render(build_parser(), __version__, page_date())
    if args.output:
        Path(args.output).write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
