"""The deployment section of README, followed as a new Debian 12 postmaster would, on this
machine's OWN Postfix (/etc/postfix) and Redis (/etc/redis), then undone.

Steps: the pip path (a venv in /opt/sender-ledger, the command linked into /usr/local/bin);
a base Postfix (what `dpkg-reconfigure postfix` would write, loopback only, every domain
routed to smtp-sinks on loopback so nothing leaves the machine); Redis with
conf/redis-ledger.conf included, started by its init script (as user redis);
``sender-ledger init --apply``; both milters started as the service user in
/run/sender-ledger (what the units' RuntimeDirectory= makes); ``doctor`` as that user; mail
through 587 recorded; mail through sendmail(1) recorded AND delivered (not held with 4.7.1:
the cleanup chroot trap); a real DSN made by this Postfix accepted on 25 and a forged one
refused with 550. Then everything is undone: master.cf restored from init's backup, main.cf
removed (there was none), Postfix and Redis stopped, the milters stopped by pid, the user,
group, directories, files and links removed; the last test checks the machine is as it was.

Runs only as root on Debian, where Postfix has no main.cf yet, neither Postfix nor the system
Redis runs, ports 25 and 587 of 127.0.0.1 are free and nothing of sender-ledger exists (CI: a
fresh machine). Otherwise every test is skipped with the reason: an operator's mail system
is never touched. Needs PyPI for the venv (pymilter is built with gcc, python3-dev and
libmilter-dev, which scripts/setup installs).
"""

from __future__ import annotations

import email
import grp
import hashlib
import json
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.demo import as_received
from testbed.procs import SmtpSink, free_port, stop_process, wait_for
from tests import messages

REPO = Path(__file__).resolve().parent.parent
USER = "sender-ledger"
VENV = Path("/opt/sender-ledger")
LINK = Path("/usr/local/bin/sender-ledger")
POSTFIX = Path("/etc/postfix")
REDIS_CONF = Path("/etc/redis/redis.conf")
MAILLOG = Path("/var/log/sender-ledger-deployment-test.log")
OWN_PATHS = (Path("/etc/sender-ledger"), Path("/var/lib/sender-ledger"), Path("/run/sender-ledger"),
             VENV, LINK, MAILLOG)
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
# the shadow tools' backups of them, which adduser and userdel rewrite: put back as they were
ACCOUNT_BACKUPS = tuple(f"{f}-" for f in ACCOUNT_FILES)
WATCHED_DIRS = (Path("/var/lib/redis"), Path("/var/log/redis"), POSTFIX)
SYSTEM_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
              "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
SITE = "example.test"


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "sets up the machine's own Postfix and Redis: runs as root only"
    if not Path("/etc/debian_version").exists():
        return "follows the Debian deployment: runs on Debian only"
    for tool in ("postfix", "postconf", "sendmail", "smtp-sink", "redis-server"):
        if shutil.which(tool, path=SYSTEM_ENV["PATH"]) is None:
            return f"{tool} is not installed (scripts/setup installs it)"
    if not Path("/etc/init.d/redis-server").exists() or not REDIS_CONF.exists():
        return "Debian's redis-server init script or /etc/redis/redis.conf is missing"
    if (POSTFIX / "main.cf").exists():
        return "/etc/postfix/main.cf exists: this machine's Postfix is configured, it is not touched"
    if Path("/run/redis/redis-server.pid").exists() or _port_in_use(6379):
        return "the system Redis (or something on 6379) runs: it is not touched"
    for port in (25, 587):
        if _port_in_use(port):
            return f"127.0.0.1:{port} is in use"
    for db, name in (("passwd", USER), ("group", USER)):
        if subprocess.run(["getent", db, name], capture_output=True).returncode == 0:
            return f"a {db} entry {name} exists"
    present = [str(p) for p in OWN_PATHS if os.path.lexists(p)]
    if present:
        return f"{', '.join(present)} exist(s) already"
    return None


REASON = _why_not()
pytestmark = [pytest.mark.deployment,
              pytest.mark.skipif(REASON is not None, reason=f"deployment test: {REASON}")]


def _digest(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def snapshot() -> dict[str, object]:
    """What the test must leave as it found it."""
    state: dict[str, object] = {f: _digest(f) for f in (*ACCOUNT_FILES, *ACCOUNT_BACKUPS, str(REDIS_CONF),
                                                        str(POSTFIX / "master.cf"), str(POSTFIX / "main.cf"))}
    for directory in WATCHED_DIRS:
        state[str(directory)] = sorted(p.name for p in directory.iterdir()) if directory.exists() else None
    state["own"] = [str(p) for p in OWN_PATHS if os.path.lexists(p)]
    state["/run/redis"] = os.path.lexists("/run/redis")
    return state


def run(*argv: str, user: str | None = None, check: bool = True, timeout: float = 300,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    extra: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        extra = {"user": entry.pw_uid, "group": entry.pw_gid,
                 "extra_groups": os.getgrouplist(user, entry.pw_gid)}
    result = subprocess.run(list(argv), capture_output=True, timeout=timeout, env=SYSTEM_ENV, cwd="/",
                            input=stdin, **extra)  # type: ignore[call-overload]
    out = subprocess.CompletedProcess(result.args, result.returncode,
                                      result.stdout.decode(errors="replace"),
                                      result.stderr.decode(errors="replace"))
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@dataclass
class Deployment:
    work: Path
    before: dict[str, object]
    redis_conf: bytes
    account_backups: dict[str, bytes | None]
    relay: SmtpSink
    fail: SmtpSink
    capture: SmtpSink
    milters: list[subprocess.Popen[bytes]] = field(default_factory=list)
    init_output: str = ""
    undone: bool = False
    undo_errors: list[str] = field(default_factory=list)

    def cli(self, *args: str, user: str | None = USER,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(str(LINK), *args, user=user, check=check)

    def recorded(self, message_id: str, sender: str) -> bool:
        result = self.cli("lookup", message_id, "--sender", sender, "--json", check=False)
        return bool(result.stdout) and bool(json.loads(result.stdout)["found"])

    def queue_empty(self) -> bool:
        return not run("postqueue", "-j", check=False).stdout.strip()

    def undo(self) -> None:
        """Put everything back, each step on its own (one failing does not stop the others)."""
        if self.undone:
            return
        self.undone = True
        steps = [
            ("queue", lambda: run("postsuper", "-d", "ALL", check=False)),
            ("milters", lambda: [stop_process(p, 25) for p in self.milters]),
            ("postfix", lambda: run("postfix", "stop", check=False)),
            ("redis", lambda: run("/etc/init.d/redis-server", "stop", check=False)),
            ("redis.conf", lambda: REDIS_CONF.write_bytes(self.redis_conf)),
            ("postfix config", self._restore_postfix),
            ("files", self._remove_files),
            ("accounts", self._remove_accounts),
            ("sinks", lambda: [s.stop() for s in (self.relay, self.fail, self.capture)]),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as exc:
                self.undo_errors.append(f"{name}: {exc}")

    def _restore_postfix(self) -> None:
        backups = sorted(POSTFIX.glob("master.cf.sender-ledger-*"))
        if backups:  # init's backup of master.cf is Debian's, as the test found it
            shutil.copy2(backups[0], POSTFIX / "master.cf")
        if self.before[str(POSTFIX / "main.cf")] is None:
            (POSTFIX / "main.cf").unlink(missing_ok=True)  # the test wrote it: there was none
        for path in POSTFIX.glob("*.cf.sender-ledger-*"):
            path.unlink()

    def _remove_files(self) -> None:
        for path in OWN_PATHS:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.exists():
                shutil.rmtree(path)
        for directory in (Path("/var/lib/redis"), Path("/var/log/redis")):
            for name in set(os.listdir(directory)) - set(self.before[str(directory)] or []):  # type: ignore[call-overload]
                target = directory / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        if not self.before["/run/redis"] and os.path.lexists("/run/redis"):
            shutil.rmtree("/run/redis")

    def _remove_accounts(self) -> None:
        if subprocess.run(["getent", "passwd", USER], capture_output=True).returncode == 0:
            run("userdel", USER)
        if subprocess.run(["getent", "group", USER], capture_output=True).returncode == 0:
            run("groupdel", USER)
        for path, content in self.account_backups.items():
            if content is None:
                Path(path).unlink(missing_ok=True)
            else:
                Path(path).write_bytes(content)


BASE_MAIN_CF = """\
# What `dpkg-reconfigure postfix` ("Internet Site") would write, for a loopback-only test site:
# every domain but localhost is routed to smtp-sinks on 127.0.0.1, nothing leaves the machine.
compatibility_level = 3.6
myhostname = mx.{site}
mydomain = {site}
myorigin = $mydomain
mydestination = localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:{relay}
transport_maps = inline:{{ fail.test=smtp:[127.0.0.1]:{fail}, {site}=smtp:[127.0.0.1]:{capture} }}
smtp_dns_support_level = disabled
alias_maps =
alias_database =
# Debian 12 logs to the journal; this machine has no journald or syslog: Postfix's own log file.
maillog_file = {maillog}
bounce_queue_lifetime = 0
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
"""


def _install_venv(work: Path) -> None:
    """README's pip path: a venv in /opt/sender-ledger, installed from a copy of the source."""
    source = work / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "dist",
                                                                "build", "*.egg-info", ".mypy_cache",
                                                                ".ruff_cache"))
    run("python3", "-m", "venv", str(VENV))
    run(str(VENV / "bin" / "pip"), "install", "-q", str(source), timeout=600)
    LINK.symlink_to(VENV / "bin" / "sender-ledger")


def _start_milter(side: str, work: Path) -> subprocess.Popen[bytes]:
    entry = pwd.getpwnam(USER)
    log = open(work / f"{side}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([str(LINK), "milter", side], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            env=SYSTEM_ENV, cwd="/", user=entry.pw_uid, group=entry.pw_gid,
                            extra_groups=os.getgrouplist(USER, entry.pw_gid))
    log.close()
    return proc


@pytest.fixture(scope="module")
def deployed(scratch: Path) -> Iterator[Deployment]:
    work = scratch / "deployment"  # traversable: the sinks run as nobody, the milters as the user
    work.mkdir()
    before = snapshot()
    sinks = (SmtpSink(work, free_port(), "relay", dump=True), SmtpSink(work, free_port(), "fail",
             reject_rcpt="550 5.1.1 User unknown"), SmtpSink(work, free_port(), "capture", dump=True))
    saved = {f: Path(f).read_bytes() if os.path.exists(f) else None for f in ACCOUNT_BACKUPS}
    dep = Deployment(work, before, REDIS_CONF.read_bytes(), saved, *sinks)
    try:
        for sink in sinks:
            sink.start()
        _install_venv(work)
        # Postfix as the postmaster found it after installing it, then Redis with the ledger's settings
        (POSTFIX / "main.cf").write_text(BASE_MAIN_CF.format(site=SITE, relay=dep.relay.port,
                                                             fail=dep.fail.port, capture=dep.capture.port,
                                                             maillog=MAILLOG))
        Path("/etc/sender-ledger").mkdir(mode=0o755)
        shutil.copy(REPO / "conf" / "redis-ledger.conf", "/etc/sender-ledger/redis-ledger.conf")
        with open(REDIS_CONF, "a") as fh:
            fh.write("\ninclude /etc/sender-ledger/redis-ledger.conf\n")
        run("/etc/init.d/redis-server", "start")
        wait_for(lambda: os.path.exists("/run/redis/redis-server.sock"), 30, "the system Redis' socket")
        dep.init_output = run(str(LINK), "init", "--apply", "--layout", "single-host",
                              "--submission", "mynetworks", "--unmatched", "reject").stdout
        run("postfix", "start")
        wait_for(lambda: _port_in_use(25) and _port_in_use(587), 30, "Postfix on 25 and 587")
        # what the units' RuntimeDirectory=sender-ledger, RuntimeDirectoryMode=0750 make
        run("install", "-d", "-o", USER, "-g", USER, "-m", "0750", "/run/sender-ledger")
        dep.milters = [_start_milter(side, work) for side in ("outbound", "inbound")]
        wait_for(lambda: all(os.path.exists(f"/run/sender-ledger/{s}.sock") for s in ("outbound", "inbound")),
                 60, "both milter sockets")
        yield dep
    finally:
        dep.undo()


def test_init_made_the_accounts_files_and_applied_the_layout(deployed: Deployment) -> None:
    out = deployed.init_output
    assert "backup /etc/postfix/main.cf.sender-ledger-" in out and "backup /etc/postfix/master.cf" in out
    assert "postfix check: OK" in out
    assert "postfix" in grp.getgrnam(USER).gr_mem and USER in grp.getgrnam("redis").gr_mem
    secret = os.stat("/etc/sender-ledger/secret")
    assert (secret.st_mode & 0o777, secret.st_gid) == (0o640, grp.getgrnam(USER).gr_gid)
    chroot = run("postconf", "-F", "-h", "cleanup/unix/chroot", "smtp/inet/chroot", "submission/inet/chroot")
    assert chroot.stdout.split() == ["n", "n", "n"]
    again = run(str(LINK), "init", "--apply", "--layout", "single-host", "--submission", "mynetworks").stdout
    assert "nothing to change" in again and "made " not in again  # idempotent


def test_doctor_as_the_milter_user_finds_no_failure(deployed: Deployment) -> None:
    result = deployed.cli("doctor", "--json", check=False)
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert not failed and result.returncode == 0, failed
    checks = {c["check"]: c["status"] for c in report["checks"]}
    assert checks["service user"] == "OK" and checks["redis"] == "OK"
    assert checks["postfix non_smtpd_milters"] == "OK" and "postfix cleanup/unix chroot" not in checks
    assert checks["outbound milter socket"] == checks["inbound milter socket"] == "OK"


def test_mail_through_587_is_recorded(deployed: Deployment) -> None:
    raw = messages.original("<deploy-587@example.test>", to="bob@elsewhere.test")
    with smtplib.SMTP("127.0.0.1", 587, timeout=60) as smtp:
        smtp.sendmail("alice@example.test", ["bob@elsewhere.test"], raw)
    wait_for(lambda: deployed.recorded("<deploy-587@example.test>", "alice@example.test"), 30, "587 record")


def test_sendmail_mail_is_recorded_and_delivered(deployed: Deployment) -> None:
    """The cleanup chroot trap: chrooted, this message would wait in the queue with 4.7.1."""
    raw = messages.original("<deploy-sendmail@example.test>", to="carol@elsewhere.test")
    run("sendmail", "-f", "alice@example.test", "-i", "carol@elsewhere.test", stdin=raw)
    try:
        wait_for(lambda: any(b"deploy-sendmail@example.test" in p.read_bytes()
                             for p in deployed.relay.messages()), 60, "sendmail(1) mail at the relay sink")
    except RuntimeError as exc:
        raise AssertionError(f"{exc}; the queue: {run('postqueue', '-p', check=False).stdout}") from None
    assert deployed.recorded("<deploy-sendmail@example.test>", "alice@example.test")
    wait_for(deployed.queue_empty, 30, "an empty queue")


def test_a_real_dsn_is_accepted_and_a_forged_one_refused_on_25(deployed: Deployment) -> None:
    mid = "<deploy-bounce@example.test>"
    raw = messages.original(mid, to="nobody@fail.test")
    with smtplib.SMTP("127.0.0.1", 587, timeout=60) as smtp:
        smtp.sendmail("alice@example.test", ["nobody@fail.test"], raw)

    def captured(marker: bytes) -> bytes | None:
        for path in deployed.capture.messages():
            data = path.read_bytes()
            if b"deploy-bounce@example.test" in data and marker in data:
                return data
        return None

    wait_for(lambda: captured(b"delivery-status") is not None, 60, "Postfix's DSN at the capture sink")
    found = captured(b"delivery-status")
    assert found is not None and b"X-Sender-Ledger" not in found  # Postfix's own, not yet checked
    returned = as_received(found)
    message = email.message_from_bytes(returned)
    assert message.get_content_type() == "multipart/report"
    with smtplib.SMTP("127.0.0.1", 25, timeout=60) as smtp:
        smtp.ehlo("mx.elsewhere.test")
        smtp.mail("")
        assert smtp.rcpt("alice@example.test")[0] == 250
        code, _ = smtp.data(returned)
        assert code == 250  # a real bounce of our mail
    forged = returned.replace(b"deploy-bounce@example.test", b"never-sent-1@example.test")
    with smtplib.SMTP("127.0.0.1", 25, timeout=60) as smtp:
        smtp.ehlo("mx.elsewhere.test")
        smtp.mail("")
        smtp.rcpt("alice@example.test")
        code, text = smtp.data(forged)
    assert code == 550 and b"5.7.1" in text
    wait_for(lambda: captured(b"X-Sender-Ledger: pass (dsn;") is not None, 60,
             "the accepted DSN, with the pass header, delivered")


def test_undo_leaves_the_machine_as_it_was(deployed: Deployment) -> None:
    deployed.undo()
    assert not deployed.undo_errors
    assert snapshot() == deployed.before
    assert not _port_in_use(25) and not _port_in_use(587) and not _port_in_use(6379)
    assert run("postfix", "status", check=False).returncode != 0
