"""Doctor's Postfix side: read the live settings with ``postconf`` and judge them.

What must hold (see conf/postfix/): the inbound milter on every port-25 smtpd
and never on the submission path; the outbound milter on the submission
services and in ``non_smtpd_milters`` and never on port 25 (there it would
record received mail as sent, and a forger could whitelist his own bounces);
``milter_default_action = tempfail``; and a chrooted daemon cannot reach a unix
socket outside the queue directory: neither smtpd (``smtpd_milters``) nor cleanup,
which is where Postfix applies ``non_smtpd_milters`` to sendmail(1) mail. Debian's
master.cf chroots both; with cleanup chrooted every locally submitted message would
stay in the queue with 4.7.1 (milter_default_action = tempfail).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ledger.config import Config
from ledger.ops.doctor import FAIL, OK, WARN, Check

SUBMISSION_PORTS = ("submission", "submissions", "smtps", "587", "465")
MX_PORTS = ("smtp", "25")


class PostconfError(Exception):
    pass


def postfix_socket(spec: str) -> str:
    """A pymilter socket spec in Postfix's syntax: inet:PORT@HOST -> inet:HOST:PORT."""
    kind, _, rest = spec.partition(":")
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        return f"inet:{host or '127.0.0.1'}:{port}"
    if kind == "local":
        return f"unix:{rest}"
    return spec


def milter_list(value: str) -> list[str]:
    """The milter endpoints of a ``*_milters`` value (``{ endpoint, options }`` allowed)."""
    found = [m.group(1).split(",")[0].strip() for m in re.finditer(r"\{([^}]*)\}", value)]
    rest = re.sub(r"\{[^}]*\}", " ", value)
    found.extend(t for t in re.split(r"[,\s]+", rest) if t)
    return found


@dataclass
class Service:
    name: str
    type: str
    chroot: bool
    command: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> str:
        return self.name.rsplit(":", 1)[-1]


@dataclass
class PostfixSettings:
    main: dict[str, str]
    services: list[Service]

    def milters(self, service: Service) -> list[str]:
        return milter_list(service.params.get("smtpd_milters", self.main.get("smtpd_milters", "")))

    def resolve(self, endpoint: str) -> str:
        """Unix paths relative to the queue directory made absolute, for comparing."""
        if endpoint.startswith("unix:") and not endpoint[5:].startswith("/"):
            queue = self.main.get("queue_directory", "")
            return "unix:" + os.path.normpath(os.path.join(queue, endpoint[5:]))
        return endpoint


MAIN_PARAMS = ("smtpd_milters", "smtpd_client_restrictions", "non_smtpd_milters",
               "milter_default_action", "milter_protocol", "queue_directory",
               "milter_connect_timeout", "milter_command_timeout", "milter_content_timeout")


def _postconf(postconf: str, config_dir: str | None, *args: str) -> str:
    argv = [postconf] + (["-c", config_dir] if config_dir else []) + list(args)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostconfError(f"{' '.join(argv)}: {exc}") from None
    if result.returncode != 0:
        raise PostconfError(result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                            else f"{' '.join(argv)} exited {result.returncode}")
    return result.stdout


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            out[key.strip()] = value.strip()
        elif line.endswith(" ="):
            out[line[:-2].strip()] = ""
    return out


def read_settings(postconf: str, config_dir: str | None) -> PostfixSettings:
    main = _pairs(_postconf(postconf, config_dir, "-x", *MAIN_PARAMS))
    fields = _pairs(_postconf(postconf, config_dir, "-F"))
    params = _pairs(_postconf(postconf, config_dir, "-P", "-x"))
    services: dict[tuple[str, str], Service] = {}
    for key, value in fields.items():
        name, type_, attr = key.rsplit("/", 2)
        service = services.setdefault((name, type_), Service(name, type_, False, ""))
        if attr == "chroot":
            service.chroot = value == "y"  # "-" is n since Postfix 3.0
        elif attr == "command":
            service.command = value.split()[0] if value else ""
    for key, value in params.items():
        name, type_, param = key.rsplit("/", 2)
        if (name, type_) in services:
            services[(name, type_)].params[param] = value
    return PostfixSettings(main, list(services.values()))


def suggested_settings(cfg: Config, config_dir: str | None = None) -> list[str]:
    """The commands for one host doing both submission and MX (conf/postfix/single-host, what
    ``sender-ledger init --layout single-host`` applies), ready to paste into a shell."""
    from ledger.ops.init import Postconf, plan_for, shell_line

    plan = plan_for("single-host", postfix_socket(cfg.inbound.socket), postfix_socket(cfg.outbound.socket))
    postconf = Postconf(config_dir)
    return [shell_line(postconf, args) for args in plan.commands()] + [f"# {n}" for n in plan.notes]


def check_postfix(cfg: Config, config_dir: str | None = None) -> tuple[list[Check], set[str], bool]:
    """(checks, milter sides Postfix uses, whether to print the settings to add)."""
    postconf = shutil.which("postconf")
    if postconf is None:
        return [Check("postfix", WARN, "postconf not found: Postfix is not installed here; "
                      "add the settings below on the Postfix host")], set(), True
    try:
        settings = read_settings(postconf, config_dir)
    except PostconfError as exc:
        return [Check("postfix", FAIL, f"postconf failed: {exc}")], set(), True
    return _judge(cfg, settings)


def _judge(cfg: Config, pf: PostfixSettings) -> tuple[list[Check], set[str], bool]:
    inbound = postfix_socket(cfg.inbound.socket)
    outbound = postfix_socket(cfg.outbound.socket)
    smtpds = [s for s in pf.services if s.type == "inet" and s.command == "smtpd"]
    mx = [s for s in smtpds if s.port in MX_PORTS]
    submission = [s for s in smtpds if s.port in SUBMISSION_PORTS]
    non_smtpd = [pf.resolve(m) for m in milter_list(pf.main.get("non_smtpd_milters", ""))]
    checks: list[Check] = []
    used: set[str] = set()

    def uses(service: Service, endpoint: str) -> bool:
        return endpoint in [pf.resolve(m) for m in pf.milters(service)]

    # port 25: the inbound check, never the outbound recorder
    for s in mx:
        label = f"postfix {s.name}/inet"
        if uses(s, outbound):
            if uses(s, inbound) or not _closed(pf, s):
                checks.append(Check(label, FAIL, f"runs the outbound milter {outbound} and takes mail "
                                    "from anyone: received mail would be recorded as sent (forgers "
                                    "could whitelist their bounces)"))
            else:
                checks.append(Check(label, OK, f"records with {outbound}: an outbound relay "
                                    "(smtpd_client_restrictions end in reject)"))
                used.add("outbound")
        elif uses(s, inbound):
            checks.append(Check(label, OK, f"port 25 runs the inbound milter {inbound}"))
            used.add("inbound")
        else:
            checks.append(Check(label, WARN, f"port 25 does not run the inbound milter: add "
                                f"smtpd_milters = {inbound} (every MX of the domain must run it; "
                                "fine on a pure outbound relay)"))
    if not mx:
        checks.append(Check("postfix port 25", WARN, "no smtpd on port 25: not an MX"))
    # submission: the outbound recorder, never the inbound check
    for s in submission:
        label = f"postfix {s.name}/inet"
        if uses(s, outbound):
            checks.append(Check(label, OK, f"runs the outbound milter {outbound}"))
            used.add("outbound")
            if uses(s, inbound):
                checks.append(Check(label, WARN, "also runs the inbound milter: users' own "
                                    "null-sender mail would be checked as backscatter"))
        else:
            checks.append(Check(label, WARN, f"mail submitted here is not recorded: add "
                                f"-o smtpd_milters={outbound} to it in master.cf"))
    if not submission:
        checks.append(Check("postfix submission", WARN, "no submission service (587/465) in master.cf "
                              "(fine on a pure MX)"))
    # sendmail(1) / pickup
    if inbound in non_smtpd:
        checks.append(Check("postfix non_smtpd_milters", FAIL, f"runs the inbound milter {inbound}: "
                            "local mail is not received backscatter; use the outbound one"))
    elif outbound in non_smtpd:
        checks.append(Check("postfix non_smtpd_milters", OK, f"runs the outbound milter {outbound}"))
        used.add("outbound")
    else:
        checks.append(Check("postfix non_smtpd_milters", WARN, "mail sent with sendmail(1) is not "
                            f"recorded: add non_smtpd_milters = {outbound} (fine on a pure MX)"))
    checks.append(_default_action(pf.main.get("milter_default_action", "tempfail")))
    checks.append(_protocol(pf))
    checks.extend(_chroot(pf, smtpds, {inbound, outbound}))
    checks.extend(_cleanup_chroot(pf, {inbound, outbound}))
    missing = any(c.status != OK for c in checks)
    return checks, used, missing


def _closed(pf: PostfixSettings, service: Service) -> bool:
    """Does this smtpd refuse clients it does not know (a relay that takes no Internet mail)?"""
    value = service.params.get("smtpd_client_restrictions", pf.main.get("smtpd_client_restrictions", ""))
    tokens = [t for t in re.split(r"[,\s]+", value) if t]
    return bool(tokens) and tokens[-1] == "reject" and "permit" not in tokens


def _default_action(action: str) -> Check:
    name = "postfix milter_default_action"
    if action == "tempfail":
        return Check(name, OK, "tempfail: while a milter is down, mail waits instead of passing")
    if action == "accept":
        return Check(name, WARN, "accept: while a milter is down, mail passes unrecorded or "
                     "unchecked; tempfail is safer")
    return Check(name, FAIL, f"{action}: while a milter is down, legitimate mail would be "
                 "refused or held; use tempfail")


def _protocol(pf: PostfixSettings) -> Check:
    protocol = pf.main.get("milter_protocol", "6")
    timeouts = ", ".join(f"{k.split('_')[1]} {pf.main.get(k, '?')}" for k in
                         ("milter_connect_timeout", "milter_command_timeout", "milter_content_timeout"))
    if protocol.isdigit() and int(protocol) >= 6:
        return Check("postfix milter_protocol", OK, f"{protocol}; timeouts: {timeouts}")
    return Check("postfix milter_protocol", WARN, f"{protocol}: use 6; timeouts: {timeouts}")


def _outside_chroot(pf: PostfixSettings, endpoint: str, ours: set[str]) -> str | None:
    """The socket path of one of our unix milters that lies outside the queue directory
    (so a chrooted daemon cannot see it), else None."""
    queue = pf.main.get("queue_directory", "/var/spool/postfix").rstrip("/") + "/"
    path = pf.resolve(endpoint)
    if path in ours and path.startswith("unix:") and not path[5:].startswith(queue):
        return path[5:]
    return None


def _chroot(pf: PostfixSettings, smtpds: list[Service], ours: set[str]) -> list[Check]:
    queue = pf.main.get("queue_directory", "/var/spool/postfix")
    checks = []
    for s in smtpds:
        if not s.chroot:
            continue
        for endpoint in pf.milters(s):
            path = _outside_chroot(pf, endpoint, ours)
            if path is not None:
                checks.append(Check(f"postfix {s.name}/inet chroot", FAIL, f"smtpd runs chrooted in {queue} "
                                    f"and cannot reach {path}: postconf -F '{s.name}/inet/chroot = n'"))
    return checks


def _cleanup_chroot(pf: PostfixSettings, ours: set[str]) -> list[Check]:
    """``non_smtpd_milters`` is applied by cleanup: a chrooted cleanup cannot reach a socket
    outside the queue directory, and every sendmail(1) message then waits with 4.7.1."""
    queue = pf.main.get("queue_directory", "/var/spool/postfix")
    checks = []
    for s in pf.services:
        if s.type != "unix" or s.command != "cleanup" or not s.chroot:
            continue
        value = s.params.get("non_smtpd_milters", pf.main.get("non_smtpd_milters", ""))
        for endpoint in milter_list(value):
            path = _outside_chroot(pf, endpoint, ours)
            if path is not None:
                checks.append(Check(
                    f"postfix {s.name}/unix chroot", FAIL,
                    f"cleanup applies non_smtpd_milters but runs chrooted in {queue} and cannot "
                    f"reach {path}: every message sent with sendmail(1) stays queued with 4.7.1; "
                    f"postconf -F '{s.name}/unix/chroot = n'"))
    return checks
