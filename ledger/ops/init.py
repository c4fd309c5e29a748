"""``sender-ledger init``: set up what a new installation lacks, and the Postfix lines for its layout.

Two halves, both idempotent (a second run finds everything in place and changes nothing):

* **Files and accounts** (:func:`ensure_files`): the system user and group the milters run as
  (with ``postfix`` in that group, to reach the sockets in /run/sender-ledger, and the user in
  ``redis`` for a Redis unix socket), the configuration, the site secret (32 random bytes,
  base64, mode 0640 group sender-ledger) and the outbound spool. What exists is never
  replaced: a new secret would make every recorded entry unmatchable.
* **Postfix** (:class:`PostfixPlan`): the ``postconf -e`` / ``-F`` / ``-M`` / ``-P`` commands of
  one layout of conf/postfix/ (single host, outbound relay, MX), of which only those whose
  value differs from the live one are pending. Applying them first copies main.cf and
  master.cf to timestamped backups. The chroot column of ``cleanup`` is part of the plan
  wherever ``non_smtpd_milters`` names a socket: Debian chroots cleanup, which applies it, and
  a chrooted cleanup cannot reach /run/sender-ledger (every sendmail(1) message would wait
  in the queue with 4.7.1).

Costs: a handful of ``postconf`` runs (about 30 ms each) and a few small files.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAYOUTS = ("single-host", "outbound-relay", "mx")
SUBMISSION_MODES = ("sasl", "mynetworks")
SERVICE_USER = "sender-ledger"
SERVICE_HOME = "/var/lib/sender-ledger"
SECRET_BYTES = 32
DEFAULT_SECRET = "/etc/sender-ledger/secret"
DEFAULT_SPOOL = "/var/lib/sender-ledger/spool"
# The documented sample next to the package in a source checkout (pip install -e, or running
# from the tree); an installed wheel has none, and init then writes the short form below.
SAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "sender-ledger.toml"
SHORT_CONFIG = """\
# sender-ledger configuration, written by `sender-ledger init`. Every key not set here has
# its default; conf/sender-ledger.toml in the source lists and explains them all.

[secret]

[redis]

[outbound]

[inbound]
"""


class InitError(Exception):
    """Something init cannot do (no main.cf, postconf failing): one line for the operator."""


# -- files and accounts ---------------------------------------------------------------------------

@dataclass
class Step:
    """One thing init looked at: what, and whether it changed it."""

    what: str
    changed: bool

    def line(self) -> str:
        return f"{'made ' if self.changed else 'ok   '} {self.what}"


def set_key(text: str, section: str, key: str, value: str) -> str:
    """``text`` (TOML) with ``key = value`` under ``[section]``: the key's line replaced, or
    added right after the section header. The rest of the file (comments) stays as it is."""
    lines = text.splitlines(keepends=True)
    header = f"[{section}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        return text.rstrip("\n") + f"\n\n{header}\n{key} = {value}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    pattern = re.compile(rf"^{re.escape(key)}\s*=")
    for i in range(start + 1, end):
        if pattern.match(lines[i]):
            lines[i] = f"{key} = {value}\n"
            return "".join(lines)
    lines.insert(start + 1, f"{key} = {value}\n")
    return "".join(lines)


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(secret_file: str, spool_dir: str, redis_url: str | None, unmatched: str) -> str:
    """The configuration init writes: the sample (if this is a source tree) or a short one,
    with the secret file, the spool, Redis and the unmatched action set."""
    text = SAMPLE_CONFIG.read_text() if SAMPLE_CONFIG.is_file() else SHORT_CONFIG
    text = set_key(text, "secret", "file", toml_string(secret_file))
    text = set_key(text, "outbound", "spool_dir", toml_string(spool_dir))
    text = set_key(text, "inbound", "unmatched_action", toml_string(unmatched))
    if redis_url:
        text = set_key(text, "redis", "url", toml_string(redis_url))
    return text


def _run(argv: Sequence[str]) -> None:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InitError(f"{shlex.join(argv)}: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise InitError(f"{shlex.join(argv)} failed: {detail[-1] if detail else result.returncode}")


def _exists(name: str, db: str) -> bool:
    try:
        (pwd.getpwnam if db == "passwd" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True


def ensure_user(user: str, home: str = SERVICE_HOME) -> Step:
    """The system user and its own group (Debian's adduser, else useradd)."""
    if _exists(user, "passwd"):
        return Step(f"user {user}", False)
    if shutil.which("adduser"):
        _run(["adduser", "--quiet", "--system", "--group", "--home", home, "--no-create-home",
              "--shell", "/usr/sbin/nologin", "--gecos", "sender-ledger milters", user])
    else:
        _run(["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home",
              "--shell", "/usr/sbin/nologin", "--comment", "sender-ledger milters", user])
    return Step(f"user {user} (system user, group {user})", True)


def ensure_member(user: str, group: str, why: str) -> Step | None:
    """``user`` in ``group`` (None when either does not exist: nothing to do)."""
    if not _exists(user, "passwd") or not _exists(group, "group"):
        return None
    entry = pwd.getpwnam(user)
    if grp.getgrnam(group).gr_gid in os.getgrouplist(user, entry.pw_gid):
        return Step(f"{user} in group {group} ({why})", False)
    _run(["usermod", "-a", "-G", group, user])
    return Step(f"{user} in group {group} ({why})", True)


def _group_id(group: str | None) -> int:
    if group is None:
        return -1
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise InitError(f"group {group} does not exist") from None


def write_new(path: Path, data: bytes, mode: int, group: str | None) -> Step:
    """Write ``path`` only if it does not exist (atomically, mode set before it appears)."""
    if path.exists():
        return Step(str(path), False)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    temp = path.with_name(path.name + ".init-new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chown(temp, -1, _group_id(group))
    os.chmod(temp, mode)
    os.replace(temp, path)
    return Step(f"{path} (mode {mode:04o}{f' group {group}' if group else ''})", True)


def ensure_directory(path: Path, user: str | None) -> Step:
    """A directory of 0750 owned by the milters' user (the outbound spool)."""
    if path.is_dir():
        return Step(str(path), False)
    missing = [path, *(p for p in path.parents if not p.exists())]
    for directory in reversed(missing):  # the parents it makes too (e.g. /var/lib/sender-ledger)
        directory.mkdir(mode=0o750)
        os.chmod(directory, 0o750)  # whatever the umask
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
    return Step(f"{', '.join(str(d) for d in reversed(missing))} (mode 0750"
                f"{f' owner {user}' if user else ''})", True)


@dataclass(frozen=True)
class FilePlan:
    config: Path
    secret: Path | None  # None: the config holds the secret some other way (inline)
    spool: Path
    redis_url: str | None
    unmatched: str
    user: str = SERVICE_USER
    accounts: bool = True  # make the user and group memberships (root only)


def ensure_files(plan: FilePlan) -> list[Step]:
    """Everything of :class:`FilePlan` that is missing, in dependency order."""
    steps: list[Step] = []
    if plan.accounts:
        steps.append(ensure_user(plan.user))
        for extra in (ensure_member("postfix", plan.user, "smtpd and cleanup reach the milter sockets"),
                      ensure_member(plan.user, "redis", "the Redis unix socket is group redis")
                      if (plan.redis_url or "unix://").startswith("unix://") else None):
            if extra is not None:
                steps.append(extra)
    group = plan.user if _exists(plan.user, "group") else None
    secret_path = plan.secret or Path(DEFAULT_SECRET)
    steps.append(write_new(plan.config, config_text(str(secret_path), str(plan.spool), plan.redis_url,
                                                    plan.unmatched).encode(), 0o644, None))
    if plan.secret is not None:
        secret = base64.b64encode(os.urandom(SECRET_BYTES)) + b"\n"
        steps.append(write_new(plan.secret, secret, 0o640, group))
    steps.append(ensure_directory(plan.spool, plan.user if _exists(plan.user, "passwd") else None))
    return steps


# -- Postfix ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewService:
    """A master.cf entry to add when it is missing (``postconf -M``) and its ``-o`` options."""

    key: str  # name/type, e.g. submission/inet
    entry: str  # the whole master.cf line
    params: tuple[tuple[str, str], ...]


@dataclass
class PostfixPlan:
    layout: str
    main: list[tuple[str, str]] = field(default_factory=list)
    chroot_off: list[str] = field(default_factory=list)  # name/type whose chroot column must be n
    services: list[NewService] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def commands(self) -> list[list[str]]:
        """Every setting as postconf arguments (without ``postconf -c DIR``)."""
        out = [["-e", f"{k} = {v}"] for k, v in self.main]
        for key in self.chroot_off:
            out.append(["-F", f"{key}/chroot = n"])
        for service in self.services:
            out.append(["-M", f"{service.key} = {service.entry}"])
            out.extend(["-P", f"{service.key}/{k} = {v}"] for k, v in service.params)
        return out


def plan_for(layout: str, inbound: str, outbound: str, submission: str = "sasl") -> PostfixPlan:
    """conf/postfix/LAYOUT as postconf commands; sockets in Postfix's syntax (unix:PATH, inet:H:P)."""
    if layout not in LAYOUTS:
        raise InitError(f"unknown layout {layout!r}: one of {', '.join(LAYOUTS)}")
    common = [("milter_default_action", "tempfail"), ("milter_protocol", "6"),
              ("milter_connect_timeout", "10s"), ("milter_command_timeout", "30s"),
              ("milter_content_timeout", "60s")]
    plan = PostfixPlan(layout)
    if layout == "mx":
        plan.main = [("smtpd_milters", inbound), ("non_smtpd_milters", ""), *common]
        plan.chroot_off = ["smtp/inet"]
        return plan
    if layout == "single-host":
        plan.main = [("smtpd_milters", inbound), ("non_smtpd_milters", outbound), *common]
    else:
        plan.main = [("smtpd_milters", outbound),
                     ("smtpd_client_restrictions", "permit_mynetworks, permit_sasl_authenticated, reject"),
                     ("non_smtpd_milters", outbound), *common]
    # cleanup applies non_smtpd_milters; Debian runs it chrooted, where /run does not exist
    plan.chroot_off = ["smtp/inet", "cleanup/unix"]
    plan.services = submission_services(outbound, submission, with_465=layout == "single-host")
    if submission == "sasl":
        plan.notes.append("submission (587) asks for TLS and SASL: main.cf needs a certificate "
                          "(smtpd_tls_cert_file, smtpd_tls_key_file) and a SASL backend (e.g. Dovecot: "
                          "smtpd_sasl_type = dovecot, smtpd_sasl_path = private/auth); without them use "
                          "--submission mynetworks (only hosts in mynetworks may submit)")
    return plan


def submission_services(outbound: str, mode: str, with_465: bool) -> list[NewService]:
    if mode not in SUBMISSION_MODES:
        raise InitError(f"unknown submission mode {mode!r}: one of {', '.join(SUBMISSION_MODES)}")
    entry = "{name} inet n - n - - smtpd"
    if mode == "mynetworks":
        params: tuple[tuple[str, str], ...] = (
            ("syslog_name", "postfix/submission"),
            ("smtpd_client_restrictions", "permit_mynetworks,reject"),
            ("smtpd_milters", outbound))
        return [NewService("submission/inet", entry.format(name="submission"), params)]
    services = [NewService("submission/inet", entry.format(name="submission"), (
        ("syslog_name", "postfix/submission"), ("smtpd_tls_security_level", "encrypt"),
        ("smtpd_sasl_auth_enable", "yes"), ("smtpd_client_restrictions", "permit_sasl_authenticated,reject"),
        ("smtpd_milters", outbound)))]
    if with_465:
        services.append(NewService("submissions/inet", entry.format(name="submissions"), (
            ("syslog_name", "postfix/submissions"), ("smtpd_tls_wrappermode", "yes"),
            ("smtpd_sasl_auth_enable", "yes"),
            ("smtpd_client_restrictions", "permit_sasl_authenticated,reject"),
            ("smtpd_milters", outbound))))
    return services


class Postconf:
    """``postconf`` against one configuration directory (Postfix's own when ``config_dir`` is None)."""

    def __init__(self, config_dir: str | None = None, binary: str = "postconf") -> None:
        self.config_dir = config_dir
        self.binary = binary

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *(["-c", self.config_dir] if self.config_dir else []), *args]

    def directory(self) -> Path:
        return Path(self.config_dir or self.query("-h", "config_directory").strip() or "/etc/postfix")

    def query(self, *args: str) -> str:
        try:
            result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InitError(f"{shlex.join(self.argv(*args))}: {exc}") from None
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise InitError(lines[-1] if lines else f"{shlex.join(self.argv(*args))} exited "
                            f"{result.returncode}")
        return result.stdout

    def run(self, args: Sequence[str]) -> None:
        self.query(*args)

    def current(self, args: Sequence[str]) -> bool:
        """Whether one command of :meth:`PostfixPlan.commands` is already in effect."""
        flag, setting = args
        key, _, wanted = (part.strip() for part in setting.partition("="))
        if flag == "-e":
            return self.query("-h", key).strip() == wanted
        if flag == "-F":
            value = self.query("-F", "-h", key).strip()
            return value == wanted or (wanted == "n" and value == "-")  # "-" is n since Postfix 3.0
        if flag == "-M":
            return bool(self.query("-M", key).strip())  # an existing entry is kept (with its options)
        return self.query("-P", "-h", key).strip() == wanted


def pending(plan: PostfixPlan, postconf: Postconf) -> list[list[str]]:
    """The plan's commands not yet in effect, in order (an entry before its options)."""
    out = []
    for args in plan.commands():
        if args[0] == "-F" and not postconf.query("-F", args[1].split("=")[0].strip()).strip():
            continue  # no such service here: nothing to un-chroot
        if not postconf.current(args):
            out.append(args)
    return out


def shell_line(postconf: Postconf, args: Sequence[str]) -> str:
    """A command to paste into a shell: postconf [-c DIR] FLAG 'setting'."""
    return shlex.join(postconf.argv(*args))


def backup(config_dir: Path, stamp: str | None = None) -> list[Path]:
    """Copy main.cf and master.cf to NAME.sender-ledger-YYYYmmddTHHMMSS (never overwriting one)."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%S")
    made = []
    for name in ("main.cf", "master.cf"):
        source = config_dir / name
        target = config_dir / f"{name}.sender-ledger-{stamp}"
        n = 1
        while target.exists():
            target = config_dir / f"{name}.sender-ledger-{stamp}.{n}"
            n += 1
        shutil.copy2(source, target)
        made.append(target)
    return made


def detect_layout(postconf: Postconf) -> tuple[str, str]:
    """A guess at this host's layout from its settings, and why."""
    restrictions = postconf.query("-h", "-x", "smtpd_client_restrictions").strip()
    tokens = [t for t in re.split(r"[,\s]+", restrictions) if t]
    if tokens and tokens[-1] == "reject" and "permit" not in tokens:
        return "outbound-relay", "port 25 refuses unknown clients (smtpd_client_restrictions end in reject)"
    if "submission/inet" in postconf.query("-M", "submission/inet"):
        return "single-host", "a submission service is set up: users send here, and it is an MX"
    return "single-host", "no sign of a pure relay; --layout mx for an MX that sends no users' mail"


def postfix_running(postconf: Postconf) -> bool:
    argv = ["postfix", *(["-c", postconf.config_dir] if postconf.config_dir else []), "status"]
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_and_reload(postconf: Postconf) -> str:
    """``postfix check``, then ``postfix reload`` when Postfix runs. Returns what it did."""
    base = ["postfix", *(["-c", postconf.config_dir] if postconf.config_dir else [])]
    _run([*base, "check"])
    if postfix_running(postconf):
        _run([*base, "reload"])
        return "postfix check: OK; Postfix reloaded"
    return "postfix check: OK; Postfix is not running (start it: systemctl start postfix)"
