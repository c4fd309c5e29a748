"""``sender-ledger doctor``: check the installation, one line per check.

Exit status 1 when any check FAILs, else 0; ``--json`` prints one object.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger.cli.common import subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "doctor", "check config, secret, Redis, milter sockets and Postfix settings")
    parser.add_argument("--postfix-config", metavar="DIR",
                        help="Postfix configuration directory for postconf -c (default: Postfix's own)")
    parser.add_argument("--no-postfix", action="store_true", help="skip the Postfix checks")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.config import DEFAULT_CONFIG_PATH, config_path
    from ledger.ops import doctor, postfix_conf, service_user

    checks: list[doctor.Check] = []
    suggestions: list[str] = []
    config_check, cfg = doctor.check_config(args.config, args.redis)
    checks.append(config_check)
    if cfg is not None:
        checks.append(doctor.check_secret(args.config, args.redis, args.secret_file))
        srs_check = doctor.check_srs(cfg)
        if srs_check is not None:
            checks.append(srs_check)
        # Root can read anything: whether the milters' own user can is a check of its own, for
        # the config their units run with (for another file doctor cannot know who uses it).
        if config_path(args.config) == DEFAULT_CONFIG_PATH:
            checks.extend(service_user.check_service_user(doctor.configured_secret_file(args.config),
                                                          cfg.outbound.spool_dir))
        checks.extend(doctor.check_redis(services.open_ledger(cfg), cfg.redis.socket_timeout,
                                         bool(cfg.redis.sentinels)))
        used: set[str] = set()
        if not args.no_postfix:
            postfix_checks, used, show = postfix_conf.check_postfix(cfg, args.postfix_config)
            if show:
                suggestions = postfix_conf.suggested_settings(cfg, args.postfix_config)
        else:
            postfix_checks = []
        checks.extend(doctor.check_sockets(cfg, used))
        checks.append(doctor.check_spool(cfg))
        checks.extend(postfix_checks)
    failed = any(c.status == doctor.FAIL for c in checks)
    if args.json:
        print(json.dumps({
            "ok": not failed,
            "checks": [c.as_dict() for c in checks],
            "counts": {s: sum(c.status == s for c in checks) for s in (doctor.OK, doctor.WARN, doctor.FAIL)},
            "postfix_settings": suggestions,
        }))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.status:<4}  {c.name:<{width}}  {c.reason}")
        if suggestions:
            print("\nPostfix settings for one host doing submission and MX (sender-ledger init "
                  "--layout LAYOUT prints only the missing ones; conf/postfix/ has every layout):")
            for line in suggestions:
                print(f"    {line}")
    return 1 if failed else 0
