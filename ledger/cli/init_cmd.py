"""``sender-ledger init [--apply]``: make what is missing, print (and apply) the Postfix lines.

Without ``--apply`` Postfix is only read: the commands still to run are printed, ready to
paste. With it, main.cf and master.cf are first copied to timestamped backups. Either way the
files and accounts that are missing are made, and ``doctor`` runs at the end. Exit status 0
when init did its part (doctor's FAILs are shown, e.g. milters not started yet), 1 when it
could not.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ledger.cli.common import CommandError, subcommand
from ledger.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, load_config


def register(sub: Any) -> None:
    from ledger.ops.init import DEFAULT_SPOOL, LAYOUTS, SERVICE_USER, SUBMISSION_MODES

    parser = subcommand(sub, "init", "set up what is missing (user, config, secret, spool) and print "
                        "the Postfix settings for this host's layout; --apply applies them")
    parser.add_argument("--apply", action="store_true",
                        help="back up main.cf and master.cf (timestamped copies), apply the Postfix "
                        "settings with postconf, run postfix check (and reload if it runs)")
    parser.add_argument("--layout", choices=LAYOUTS,
                        help="this host's part: single-host (submission and MX), outbound-relay or mx "
                        "(default: asked on a terminal, else detected from the Postfix settings)")
    parser.add_argument("--submission", choices=SUBMISSION_MODES, default="sasl",
                        help="who may use port 587: sasl (TLS and SASL login; needs a certificate and "
                        "a SASL backend) or mynetworks (only hosts in mynetworks, no TLS or SASL); "
                        "default: sasl")
    parser.add_argument("--unmatched", choices=("tag", "reject"), default="tag",
                        help="inbound.unmatched_action of a new config: tag for the trial (default), "
                        "reject to refuse backscatter at once")
    parser.add_argument("--postfix-dir", metavar="DIR",
                        help="Postfix configuration directory (postconf -c; default: Postfix's own)")
    parser.add_argument("--spool-dir", metavar="DIR",
                        help=f"outbound spool of a new config (default: {DEFAULT_SPOOL})")
    parser.add_argument("--user", default=SERVICE_USER,
                        help=f"the milters' system user and group (default: {SERVICE_USER})")
    parser.add_argument("--no-accounts", action="store_true",
                        help="make or change no user or group (they are managed elsewhere)")
    parser.set_defaults(func=run)


def _target_config(given: str | None) -> Path:
    if given:
        return Path(given)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _existing_paths(config: Path) -> tuple[str | None, str]:
    """secret.file and outbound.spool_dir of a config that exists already."""
    from ledger.ops.doctor import configured_secret_file

    cfg = load_config(str(config), require_secret=False, exposed_secret_ok=True)
    return configured_secret_file(str(config)), cfg.outbound.spool_dir


def run(args: argparse.Namespace) -> int:
    from ledger.ops import init

    if not args.no_accounts and os.geteuid() != 0:
        raise CommandError("init makes a system user and files in /etc: run it as root "
                           "(or with --no-accounts and paths you can write)")
    config = _target_config(args.config)
    secret: str | None = args.secret_file or init.DEFAULT_SECRET
    spool: str = args.spool_dir or init.DEFAULT_SPOOL
    if config.exists():  # its paths win: init completes an installation, it does not redirect it
        try:
            known_secret, spool = _existing_paths(config)
        except ConfigError as exc:
            raise CommandError(f"init: {config}: {exc}") from None
        secret = args.secret_file or known_secret
    plan = init.FilePlan(config, Path(secret) if secret else None, Path(spool),
                         args.redis, args.unmatched, args.user, not args.no_accounts)
    try:
        steps = init.ensure_files(plan)
    except (init.InitError, OSError) as exc:
        raise CommandError(f"init: {exc}") from None
    print("Files and accounts:")
    for step in steps:
        print(f"  {step.line()}")
    cfg = load_config(str(config), redis_url=args.redis, require_secret=False, exposed_secret_ok=True)
    try:
        _postfix(args, cfg)
    except init.InitError as exc:
        raise CommandError(f"init: {exc}") from None
    return _doctor(args, config)


def _postfix(args: argparse.Namespace, cfg: Any) -> None:
    from ledger.ops import init
    from ledger.ops.postfix_conf import postfix_socket

    postconf = init.Postconf(args.postfix_dir)
    directory = Path(args.postfix_dir) if args.postfix_dir else Path("/etc/postfix")
    have_main = (directory / "main.cf").is_file()
    layout, why = args.layout, "given"
    if layout is None:
        layout, why = init.detect_layout(postconf) if have_main else ("single-host", "no main.cf yet")
        if sys.stdin.isatty():
            answer = input(f"Layout ({', '.join(init.LAYOUTS)}) [{layout}: {why}]: ").strip()
            if answer:
                if answer not in init.LAYOUTS:
                    raise init.InitError(f"unknown layout {answer!r}")
                layout, why = answer, "chosen"
    plan = init.plan_for(layout, postfix_socket(cfg.inbound.socket), postfix_socket(cfg.outbound.socket),
                         args.submission)
    print(f"\nPostfix, layout {layout} ({why}; --layout to choose), {directory}:")
    if not have_main:
        if args.apply:
            raise init.InitError(f"no {directory / 'main.cf'}: set up Postfix first "
                                 "(dpkg-reconfigure postfix), then run init again")
        todo = plan.commands()
    else:
        directory = postconf.directory()
        todo = init.pending(plan, postconf)
    for note in plan.notes:
        print(f"  note: {note}")
    if not todo:
        print("  nothing to change: every setting of the layout is in place")
        return
    for command in todo:
        print(f"  {init.shell_line(postconf, command)}")
    if not args.apply:
        print("  (not applied: run init again with --apply, or paste the lines above, then "
              "postfix check && postfix reload)")
        return
    for path in init.backup(directory):
        print(f"  backup {path}")
    for command in todo:
        postconf.run(command)
    print(f"  applied {len(todo)} setting(s); {init.check_and_reload(postconf)}")


def _doctor(args: argparse.Namespace, config: Path) -> int:
    from ledger.cli import doctor_cmd

    print("\nsender-ledger doctor:")
    sys.stdout.flush()
    doctor_args = argparse.Namespace(config=str(config), redis=args.redis, secret_file=None,
                                     postfix_config=args.postfix_dir, no_postfix=False, json=False)
    if doctor_cmd.run(doctor_args):
        print("\ndoctor found a FAIL above: fix it before Postfix sends mail through the milters "
              "(a milter that is not started yet is one; start the units).")
    return 0
