"""The Debian package, installed for real: build, ``dpkg -i``, run from the installed files, purge.

scripts/build-deb builds the .deb from a copy of the tree in /tmp (about 10 s). The package
is then installed on this machine, what its postinst set up is checked (user, group, secret,
spool, units not enabled), ``/usr/bin/sender-ledger`` runs from the installed files only
(Debian's /usr/bin/python3 and python3-redis, the default config in /etc, a clean
environment, working directory /) as root and as the service user, the installed inbound
milter serves its socket to the postfix user and nobody else, and ``dpkg --purge`` must
leave the machine as it was: no user or group, no /etc/sender-ledger, no file of the package.

Runs only as root on Debian, on a machine where sender-ledger is not installed and nothing
of it exists (no user, group, /etc/sender-ledger...): an operator's installation is never
touched. Otherwise every test here is skipped with the reason.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import smtplib
import stat
import subprocess
import time
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.postfix import PrivatePostfix
from testbed.procs import RedisServer, free_port, stop_process, wait_for
from tests import messages

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "sender-ledger"
USER = "sender-ledger"
# What the package or its postinst makes; none may exist before, none after the purge.
OWN_PATHS = ("/etc/sender-ledger", "/var/lib/sender-ledger", "/run/sender-ledger", "/usr/bin/sender-ledger",
             "/usr/share/sender-ledger", "/usr/share/doc/sender-ledger",
             "/usr/lib/python3/dist-packages/ledger", "/lib/systemd/system/sender-ledger-inbound.service",
             "/lib/systemd/system/sender-ledger-outbound.service")
RUNTIME_DEPENDENCIES = ("adduser", "python3-redis", "python3-milter", "python3-xxhash", "python3-hiredis")
SYSTEM_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
UNITS = ("sender-ledger-inbound.service", "sender-ledger-outbound.service")


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package],
                            capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() not in ("", "not-installed", "config-files")


def _exists(name: str, db: str) -> bool:
    return subprocess.run(["getent", db, name], capture_output=True).returncode == 0


def _why_not() -> str | None:
    """Why this machine is not one to install the package on, or None."""
    if os.geteuid() != 0:
        return "installs a .deb: runs as root only"
    if not Path("/etc/debian_version").exists() or shutil.which("dpkg") is None:
        return "installs a .deb: runs on Debian only"
    if _installed(PACKAGE) or subprocess.run(["dpkg-query", "-W", PACKAGE],
                                             capture_output=True).returncode == 0:
        return f"{PACKAGE} is (or was) installed here: an operator's installation is never touched"
    if _exists(USER, "passwd") or _exists(USER, "group"):
        return f"a user or group {USER} exists here already"
    present = [p for p in OWN_PATHS if os.path.lexists(p)]
    if present:
        return f"{', '.join(present)} exist(s) here already"
    return None


REASON = _why_not()
pytestmark = [pytest.mark.deb,
              pytest.mark.skipif(REASON is not None, reason=f"Debian package test: {REASON}")]


def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    """dpkg, waiting (bounded) while another dpkg or apt on this shared machine holds the lock."""
    deadline = time.monotonic() + 300
    while True:
        result = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=600,
                                env=SYSTEM_ENV, cwd="/")
        if result.returncode != 0 and "lock" in result.stderr and time.monotonic() < deadline:
            time.sleep(2)
            continue
        return result


def installed_cli(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """/usr/bin/sender-ledger from a clean environment in /: nothing of the checkout can leak in."""
    extra: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        extra = {"user": entry.pw_uid, "group": entry.pw_gid,
                 "extra_groups": os.getgrouplist(user, entry.pw_gid)}
    return subprocess.run(["/usr/bin/sender-ledger", *args], capture_output=True, text=True, timeout=120,
                          env=SYSTEM_ENV, cwd="/", **extra)  # type: ignore[call-overload]


def checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert result.stdout, result.stderr
    return {c["check"]: c for c in json.loads(result.stdout)["checks"]}


@dataclass
class Installation:
    deb: Path
    build_seconds: float
    files: list[str]
    postfix_groups_before: set[str]
    redis: RedisServer
    purge: subprocess.CompletedProcess[str] | None = None
    notes: list[str] = field(default_factory=list)

    def remove(self) -> subprocess.CompletedProcess[str]:
        if self.purge is None:
            self.purge = dpkg("--purge", PACKAGE)
        return self.purge


def _groups_of(user: str) -> set[str]:
    if not _exists(user, "passwd"):
        return set()
    return {g.gr_name for g in grp.getgrall() if user in g.gr_mem}


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    missing = [p for p in RUNTIME_DEPENDENCIES if not _installed(p)]
    missing += [tool for tool in ("dpkg-buildpackage", "dh", "lintian") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup, which installs them")
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    build = subprocess.run([str(REPO / "scripts" / "build-deb"), str(out)], capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stderr
    deb = Path(build.stdout.strip().splitlines()[-1])
    redis_server = RedisServer(out / "redis", port=free_port()).start()
    postfix_groups = _groups_of("postfix")
    result = dpkg("-i", str(deb))
    inst = Installation(deb, time.monotonic() - started, [], postfix_groups, redis_server)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        inst.files = subprocess.run(["dpkg-query", "-L", PACKAGE], capture_output=True, text=True,
                                    check=True).stdout.split()
        yield inst
    finally:
        inst.remove()
        redis_server.stop()


def test_the_package_is_lintian_clean_of_errors(installation: Installation) -> None:
    result = subprocess.run(["lintian", "--fail-on", "error,warning", str(installation.deb)],
                            capture_output=True, text=True, timeout=300, env=SYSTEM_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert installation.build_seconds < 600  # generous: about 10 s here, the figure is in README


def test_postinst_made_the_user_the_secret_and_the_spool(installation: Installation) -> None:
    user = pwd.getpwnam(USER)
    group = grp.getgrnam(USER)
    assert user.pw_gid == group.gr_gid and user.pw_uid < 1000  # a system user, its own group
    assert user.pw_dir == "/var/lib/sender-ledger" and user.pw_shell == "/usr/sbin/nologin"
    if _exists("postfix", "passwd"):
        assert "postfix" in group.gr_mem  # smtpd reaches the sockets in /run/sender-ledger (0750)

    secret = os.stat("/etc/sender-ledger/secret")
    assert (secret.st_uid, secret.st_gid, stat.S_IMODE(secret.st_mode)) == (0, group.gr_gid, 0o640)
    text = Path("/etc/sender-ledger/secret").read_text()
    assert len(b64decode(text.strip(), validate=True)) == 32 and text.endswith("\n")

    for path in ("/var/lib/sender-ledger", "/var/lib/sender-ledger/spool"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, group.gr_gid, 0o750), path


def test_the_files_are_where_the_package_says(installation: Installation) -> None:
    files = set(installation.files)
    assert "/usr/bin/sender-ledger" in files and "/usr/share/man/man1/sender-ledger.1.gz" in files
    assert "/usr/share/sender-ledger/redis-ledger.conf" in files
    assert "/usr/share/sender-ledger/postfix/mx/main.cf.snippet" in files
    assert "/usr/share/sender-ledger/grafana/sender-ledger.json" in files
    assert not [f for f in files if "/testbed" in f or "/tests" in f]  # test tooling stays out
    conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", PACKAGE], capture_output=True,
                               text=True, check=True).stdout
    assert "/etc/sender-ledger/sender-ledger.toml" in conffiles
    assert Path("/etc/sender-ledger/sender-ledger.toml").read_bytes() == \
        (REPO / "conf" / "sender-ledger.toml").read_bytes()
    where = subprocess.run(["/usr/bin/python3", "-c", "import ledger; print(ledger.__file__)"],
                           capture_output=True, text=True, env=SYSTEM_ENV, cwd="/", check=True).stdout
    assert where.strip() == "/usr/lib/python3/dist-packages/ledger/__init__.py"
    page = subprocess.run(["man", "-l", "/usr/share/man/man1/sender-ledger.1.gz"], capture_output=True,
                          text=True, env={**SYSTEM_ENV, "MANWIDTH": "100"}).stdout
    for command in ("milter", "record", "check", "doctor", "spool"):
        assert f"\n   {command}\n" in page


def test_the_units_run_usr_bin_and_are_neither_enabled_nor_started(installation: Installation) -> None:
    for unit in UNITS:
        text = Path("/lib/systemd/system", unit).read_text()
        side = unit.split("-")[2].split(".")[0]
        assert f"\nExecStart=/usr/bin/sender-ledger milter {side}\n" in text
        assert "/opt/" not in text
        assert not list(Path("/etc/systemd/system").glob(f"*/{unit}")), "enabled by the package"
        if shutil.which("systemd-analyze"):  # the installed unit, its ExecStart now exists
            verify = subprocess.run(["systemd-analyze", "verify", f"/lib/systemd/system/{unit}"],
                                    capture_output=True, text=True, timeout=120, cwd="/")
            complaints = [line for line in (verify.stdout + verify.stderr).splitlines() if unit in line]
            assert verify.returncode == 0 and not complaints, verify.stdout + verify.stderr
    running = subprocess.run(["pgrep", "-f", "/usr/bin/sender-ledger milter"], capture_output=True)
    assert running.returncode == 1, "a milter was started by the package"


def test_doctor_runs_from_the_installed_files_with_the_default_config(installation: Installation) -> None:
    # No --config, no $SENDER_LEDGER_CONFIG: /etc/sender-ledger/sender-ledger.toml, which points at
    # the system Redis socket; that Redis may well not run here, so only config and secret must be OK.
    result = installed_cli("doctor", "--json", "--no-postfix")
    found = checks(result)
    assert found["config"]["status"] == "OK", found
    assert found["config"]["reason"].startswith("/etc/sender-ledger/sender-ledger.toml is valid")
    assert found["secret"] == {"check": "secret", "status": "OK", "reason": "from secret.file "
                               "/etc/sender-ledger/secret: 44 bytes, not world-readable"}
    assert found["service user"] == {"check": "service user", "status": "OK", "reason": "user sender-ledger "
                                     "(the milters' User=) can read /etc/sender-ledger/secret and write "
                                     "/var/lib/sender-ledger/spool"}
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1)  # 1: a FAIL, e.g. no Redis on /run/redis here


def test_doctor_tells_when_the_milters_cannot_read_the_secret(installation: Installation) -> None:
    secret = Path("/etc/sender-ledger/secret")
    secret.chmod(0o600)  # what `head -c 32 /dev/urandom | base64 > secret; chmod 600` as root gives
    try:
        found = checks(installed_cli("doctor", "--json", "--no-postfix"))
    finally:
        secret.chmod(0o640)
    assert found["secret"]["status"] == "OK"  # root reads it fine...
    assert found["service user"]["status"] == "FAIL"  # ...the milters would not
    assert "cannot read /etc/sender-ledger/secret (mode 0600 root:sender-ledger)" in \
        found["service user"]["reason"]


def test_doctor_as_the_service_user_against_a_redis(installation: Installation) -> None:
    url = installation.redis.url
    result = installed_cli("doctor", "--json", "--no-postfix", "--redis", url, user=USER)
    found = checks(result)
    for name in ("config", "secret", "redis", "spool"):
        assert found[name]["status"] == "OK", found[name]
    assert found["spool"]["reason"].startswith("/var/lib/sender-ledger/spool: empty")


def test_record_and_check_from_the_installed_files(installation: Installation, tmp_path: Path) -> None:
    url = installation.redis.url
    sent, real, forged = tmp_path / "sent.eml", tmp_path / "real.eml", tmp_path / "forged.eml"
    sent.write_bytes(messages.original(message_id="<deb-1@example.test>"))
    real.write_bytes(messages.dsn(messages.original(message_id="<deb-1@example.test>")))
    forged.write_bytes(messages.dsn(messages.original(message_id="<deb-2@example.test>"),
                                    failed="mallory@example.net"))
    result = installed_cli("record", "--redis", url, "--mail-from", "alice@example.test",
                           "--rcpt", "bob@example.com", str(sent))
    assert result.returncode == 0 and "recorded 1 of 1" in result.stdout, result.stderr
    result = installed_cli("check", "--json", "--redis", url, "--mail-from", "", "--rcpt",
                           "alice@example.test", str(real), str(forged))
    assert result.returncode == 0, result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["action"], o["matched"]) for o in outcomes] == [("accept", True), ("reject", False)]


def _connect_as(user: str, path: str) -> subprocess.CompletedProcess[str]:
    """Connect to a unix socket as ``user`` with its groups from /etc/group, as Postfix's daemons
    get them (initgroups when they drop root)."""
    entry = pwd.getpwnam(user)
    return subprocess.run(["/usr/bin/python3", "-c", "import socket, sys; s = socket.socket(socket.AF_UNIX); "
                           "s.settimeout(5); s.connect(sys.argv[1])", path],
                          capture_output=True, text=True, timeout=60, env=SYSTEM_ENV, cwd="/",
                          user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=os.getgrouplist(user, entry.pw_gid))


def test_the_installed_milter_serves_postfix_and_nobody_else(installation: Installation,
                                                             tmp_path: Path, scratch: Path) -> None:
    """The packaged layout end to end: the installed inbound milter, run as the service user on
    the default config's socket in /run/sender-ledger (0750), answers a private Postfix's smtpd
    (user postfix, in the group only because postinst put it there): a forged DSN gets 550, the
    DSN of a recorded message is queued. Without the group smtpd gets no connection: 451."""
    if not _exists("postfix", "passwd") or shutil.which("postfix") is None:
        pytest.skip("Postfix is not installed here")
    user = pwd.getpwnam(USER)
    run_dir = Path("/run/sender-ledger")  # what the units' RuntimeDirectory= makes: 0750 sender-ledger
    run_dir.mkdir(mode=0o750)
    os.chown(run_dir, user.pw_uid, user.pw_gid)
    run_dir.chmod(0o750)
    socket_path = run_dir / "inbound.sock"
    log = (tmp_path / "milter.log").open("wb")
    milter = subprocess.Popen(
        ["/usr/bin/sender-ledger", "milter", "inbound", "--redis", installation.redis.url],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**SYSTEM_ENV, "HOME": user.pw_dir}, cwd="/",
        user=user.pw_uid, group=user.pw_gid, extra_groups=os.getgrouplist(USER, user.pw_gid))
    try:
        wait_for(socket_path.exists, 60, f"the installed inbound milter's socket {socket_path}")
        allowed = _connect_as("postfix", str(socket_path))
        assert allowed.returncode == 0, allowed.stderr
        refused = _connect_as("nobody", str(socket_path))
        assert refused.returncode != 0 and "PermissionError" in refused.stderr
        found = checks(installed_cli("doctor", "--json", "--no-postfix", "--redis", installation.redis.url))
        assert found["inbound milter socket"]["status"] == "OK", found["inbound milter socket"]
        # Postfix's daemons (user postfix) must reach its queue and data: the suite's scratch
        # directory is world-traversable, pytest's tmp_path is not.
        _through_postfix(installation, tmp_path, scratch / "deb-postfix", f"unix:{socket_path}")
    finally:
        stop_process(milter, timeout=20)  # pymilter takes 2-6 s on SIGTERM
        log.close()
    assert b"Traceback" not in (tmp_path / "milter.log").read_bytes()


def _through_postfix(installation: Installation, tmp_path: Path, workdir: Path, milter: str) -> None:
    sent = tmp_path / "sent-pf.eml"
    sent.write_bytes(messages.original(message_id="<deb-pf@example.test>"))
    result = installed_cli("record", "--redis", installation.redis.url, "--mail-from", "alice@example.test",
                           "--rcpt", "bob@example.com", str(sent))
    assert result.returncode == 0, result.stderr
    postfix = PrivatePostfix(workdir, mx_port=free_port(), submission_port=free_port(),
                             inbound_milter=milter, outbound_milter="", capture_port=free_port(),
                             fail_port=free_port(), relay_port=free_port())
    postfix.start()
    try:
        with smtplib.SMTP("127.0.0.1", postfix.mx_port, timeout=120) as smtp:
            smtp.sendmail("<>", ["alice@example.test"],
                          messages.dsn(messages.original(message_id="<deb-pf@example.test>")))
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("<>", ["alice@example.test"],
                              messages.dsn(messages.original(message_id="<deb-forged@example.test>"),
                                           failed="mallory@example.net"))
        assert refused.value.smtp_code == 550, refused.value
        assert refused.value.smtp_error.startswith(b"5.7.1 ")
    finally:
        postfix.stop()


def test_reinstall_and_remove_keep_the_secret_and_the_user(installation: Installation) -> None:
    """A new secret would make every recorded entry unmatchable: postinst never replaces one."""
    secret = Path("/etc/sender-ledger/secret").read_bytes()
    again = dpkg("-i", str(installation.deb))  # the same version again: postinst runs once more
    assert again.returncode == 0, again.stdout + again.stderr
    assert Path("/etc/sender-ledger/secret").read_bytes() == secret
    removed = dpkg("--remove", PACKAGE)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not os.path.exists("/usr/bin/sender-ledger")
    assert Path("/etc/sender-ledger/secret").read_bytes() == secret  # config-files state keeps it
    assert Path("/etc/sender-ledger/sender-ledger.toml").exists() and _exists(USER, "passwd")
    back = dpkg("-i", str(installation.deb))
    assert back.returncode == 0, back.stdout + back.stderr
    assert Path("/etc/sender-ledger/secret").read_bytes() == secret


def test_purge_leaves_the_machine_as_it_was(installation: Installation) -> None:
    result = installation.remove()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _installed(PACKAGE)
    assert subprocess.run(["dpkg-query", "-W", PACKAGE], capture_output=True).returncode != 0, \
        "dpkg still knows the package (config-files?)"
    assert not _exists(USER, "passwd") and not _exists(USER, "group")
    assert _groups_of("postfix") == installation.postfix_groups_before
    left = [p for p in (*OWN_PATHS, *installation.files) if os.path.lexists(p) and not os.path.isdir(p)]
    left += [p for p in OWN_PATHS if os.path.lexists(p)]
    assert not left, left
    state = [str(p) for p in Path("/var/lib/systemd").rglob("*sender-ledger*")] \
        if Path("/var/lib/systemd").exists() else []
    state += [str(p) for p in Path("/var/lib/dpkg/info").glob(f"{PACKAGE}.*")]
    assert not state, state
