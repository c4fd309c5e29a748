"""A private Sendmail daemon from Debian's packages, for the end-to-end tests behind Sendmail.

Sendmail conflicts with Postfix as a Debian package (installing ``sendmail-bin`` removes
the ``postfix`` the other tests need), so it is never installed: :func:`fetch_debs` runs
``apt-get download`` into a cache directory (:data:`CACHE`, kept between runs) and
:class:`PrivateSendmail` unpacks the packages with ``dpkg -x`` into its own directory.

Invariants:

* nothing outside ``workdir`` is written (except the .deb cache): its own .cf (built by m4
  from the shipped sendmail-cf macros), queue, aliases, hosts and status files; the machine's
  /usr/sbin/sendmail (Postfix's) and /etc/mail are never touched, and no system service runs;
* it listens on 127.0.0.1 only: an MX port whose sessions pass the inbound milter
  (``INPUT_MAIL_FILTER``) and a submission port (the MSA daemon, ``InputMailFilters`` set to the
  outbound milter only); both milters have ``F=T`` (a milter failure tempfails);
* mail for ``example.test`` goes to the capture sink, for ``fail.test`` to the sink that
  refuses every recipient (so Sendmail itself writes the DSN), everything else to the relay
  sink: no DNS, hosts and aliases from files only;
* it runs in a private mount and UTS namespace (``unshare -m -u``), where /etc/hosts is a
  bind mount of its own hosts file and the host name is :attr:`hostname`: Sendmail qualifies
  its name through the resolver before it reads its .cf, which with no DNS waits a minute;
* it is started as the leader of its own process group and stopped by that id (the daemon
  forks one child per connection and per delivery).

Costs: unpacking takes about a second; the first :func:`fetch_debs` downloads ~1 MB.
Needs root (``unshare``, and Sendmail run from a private .cf keeps its privileges only then).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from testbed.procs import _Child, port_open

PACKAGES = ("sendmail-bin", "sendmail-cf", "libwrap0")
CACHE = Path(os.environ.get("SENDER_LEDGER_DEB_CACHE", "/var/cache/sender-ledger-test")) / "sendmail"
SITE_DOMAIN = "example.test"
FAIL_DOMAIN = "fail.test"

# Runs Sendmail inside ``unshare -m -u``: its own /etc/hosts and host name, seen by it alone.
WRAPPER = """#!/bin/sh
set -e
mount --bind {base}/hosts /etc/hosts
hostname {hostname}
exec {binary} "$@"
"""

# Shared by both .cf files: no DNS, no ident, every file this Sendmail reads in ``base``.
COMMON = """divert(-1)
divert(0)dnl
include(`{root}/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`sender-ledger test bed')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confSERVICE_SWITCH_FILE', `{base}/service.switch')dnl
define(`confHOSTS_FILE', `{base}/hosts')dnl
define(`confCW_FILE', `{base}/local-host-names')dnl
define(`confCT_FILE', `{base}/trusted-users')dnl
define(`HELP_FILE', `{base}/helpfile')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_IDENT', `0')dnl
define(`confTO_CONNECT', `10s')dnl
define(`confTO_QUEUEWARN', `1d')dnl
dnl A shared, loaded test machine must not make it queue or refuse mail.
define(`confQUEUE_LA', `1000')dnl
define(`confREFUSE_LA', `1000')dnl
define(`confDELAY_LA', `0')dnl
FEATURE(`nocanonify')dnl
"""

# The MTA: an MX daemon with the inbound milter, an MSA daemon with the outbound one.
MTA = """define(`QUEUE_DIR', `{base}/queue')dnl
define(`STATUS_FILE', `{base}/statistics')dnl
define(`confPID_FILE', `{base}/sendmail.pid')dnl
define(`ALIAS_FILE', `{base}/aliases')dnl
define(`confMAX_DAEMON_CHILDREN', `0')dnl
define(`confCONNECTION_RATE_THROTTLE', `0')dnl
define(`confPRIVACY_FLAGS', `authwarnings')dnl
define(`confMILTER_LOG_LEVEL', `9')dnl
dnl Our scratch is below /tmp (world-writable, sticky): the mailertable file is safe all the same.
define(`confDONT_BLAME_SENDMAIL', `MapInUnsafeDirPath')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`mailertable', `text -k0 -v1 {base}/mailertable')dnl
RELAY_DOMAIN(`{site} {fail}')dnl
DAEMON_OPTIONS(`Port={mx_port}, Addr=127.0.0.1, Name=MTA')dnl
DAEMON_OPTIONS(`Port={submission_port}, Addr=127.0.0.1, Name=MSA, M=E, InputMailFilters=outbound')dnl
INPUT_MAIL_FILTER(`inbound', `S={inbound}, F=T, T=C:30s;S:60s;R:60s;E:5m')dnl
MAIL_FILTER(`outbound', `S={outbound}, F=T, T=C:30s;S:60s;R:60s;E:5m')dnl
MAILER(`smtp')dnl
MAILER_DEFINITIONS
{mailers}
"""

# sendmail(1)'s mail submission program (Debian's submit.cf): it hands every message to
# the MTA over SMTP, here to the MSA daemon, so that the outbound milter records it. It runs
# as nobody (Debian's smmsp), with its own queue.
MSP = """define(`confRUN_AS_USER', `nobody')dnl
define(`MSP_QUEUE_DIR', `{base}/clientmqueue')dnl
define(`confPID_FILE', `{base}/sm-client.pid')dnl
define(`STATUS_FILE', `{base}/sm-client.st')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {submission_port}')dnl
FEATURE(`msp', `[127.0.0.1]')dnl
"""

# One SMTP mailer per sink: the port is a mailer argument in Sendmail, not part of the route.
MAILER = ("M{name}, P=[IPC], F=mDFMuXak, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\\r\\n, "
          "L=990, T=DNS/RFC822/SMTP, A=TCP $h {port}")


class SendmailUnavailable(RuntimeError):
    """The Sendmail packages cannot be had here (apt cannot fetch them): a reason to skip."""


def _download(name: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", "download", "-q", name], cwd=cache, capture_output=True,
                          text=True, timeout=300)


def fetch_debs(cache: Path = CACHE) -> list[Path]:
    """The .debs of :data:`PACKAGES`, downloaded into ``cache`` once (with ``apt-get update``
    first if the package lists do not know them yet). Raises :class:`SendmailUnavailable`
    with apt's own words when it cannot fetch them."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:  # two test runs at once download one copy
        fcntl.flock(lock, fcntl.LOCK_EX)
        updated = False
        for name in PACKAGES:
            if any(cache.glob(f"{name}_*.deb")):
                continue
            result = _download(name, cache)
            if result.returncode != 0 and not updated:
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
                updated = True
                result = _download(name, cache)
            if result.returncode != 0:
                why = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise SendmailUnavailable(f"apt-get download {name} failed: {why}")
    return [sorted(cache.glob(f"{name}_*.deb"))[-1] for name in PACKAGES]


def socket_dir(parent: Path = CACHE.parent) -> Path:
    """A new 0750 directory for unix milter sockets (the caller removes it), below ``parent``,
    whose parents only root may write: Sendmail refuses a socket below a world-writable
    directory such as /tmp, as it would in production below anything but /run/sender-ledger."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="sockets-", dir=parent))
    path.chmod(0o750)
    return path


class PrivateSendmail(_Child):
    """Sendmail as a daemon (``-bD``) with its own .cf, ports and queue; see the module doc."""

    hostname = "mx.sendmail.test"

    def __init__(self, workdir: Path, *, mx_port: int, submission_port: int, inbound_milter: str,
                 outbound_milter: str, capture_port: int, fail_port: int, relay_port: int,
                 debs: list[Path]) -> None:
        self.base = workdir
        self.root = workdir / "root"
        self.binary = self.root / "usr/libexec/sendmail/sendmail"
        self.cf = workdir / "sendmail.cf"
        self.submit_cf = workdir / "submit.cf"
        self.log_path = workdir / "sendmail.log"
        self.traffic = workdir / "traffic"
        self.mx_port, self.submission_port = mx_port, submission_port
        self.inbound_milter, self.outbound_milter = inbound_milter, outbound_milter
        self.sinks = {"capture": capture_port, "fail": fail_port, "relay": relay_port}
        self.debs = debs
        self.env = dict(os.environ, LD_LIBRARY_PATH=str(self.root / "usr/lib/x86_64-linux-gnu"))

    @property
    def command(self) -> list[str]:
        """How to run this Sendmail (add options): in its namespaces, with its .cf."""
        return ["unshare", "-m", "-u", str(self.base / "sendmail.sh"), "-C", str(self.cf)]

    def configure(self) -> None:
        """Unpack the packages and write the .cf and the files it names."""
        if self.base.exists():
            shutil.rmtree(self.base)
        (self.base / "queue").mkdir(parents=True, mode=0o700)
        (self.base / "clientmqueue").mkdir(mode=0o770)
        shutil.chown(self.base / "clientmqueue", "nobody")  # the MSP refuses to run as root
        for deb in self.debs:
            subprocess.run(["dpkg", "-x", str(deb), str(self.root)], check=True, timeout=120)
        # The binary is set-group-ID (group mail): the dynamic loader would then ignore
        # LD_LIBRARY_PATH, which is how it finds the unpacked libwrap. Drop the bit.
        self.binary.chmod(0o755)
        files = {
            "aliases": "postmaster: root\nMAILER-DAEMON: postmaster\n",
            "service.switch": "hosts files\naliases files\n",
            "hosts": f"127.0.0.1 {self.hostname} {self.hostname.split('.')[0]} localhost\n",
            "local-host-names": "",
            "trusted-users": "",
            "helpfile": "",
            "statistics": "",
            # A text map: domain, whitespace, mailer:host (sub-domains need their own line).
            "mailertable": (f"{SITE_DOMAIN} capture:[127.0.0.1]\n{FAIL_DOMAIN} fail:[127.0.0.1]\n"
                            ". relay:[127.0.0.1]\n"),
        }
        for name, text in files.items():
            (self.base / name).write_text(text)
        wrapper = self.base / "sendmail.sh"
        wrapper.write_text(WRAPPER.format(base=self.base, hostname=self.hostname, binary=self.binary))
        wrapper.chmod(0o755)
        common = COMMON.format(root=self.root, base=self.base, hostname=self.hostname)
        mailers = "\n".join(MAILER.format(name=n, port=p) for n, p in self.sinks.items())
        self._m4(self.cf, common + MTA.format(
            base=self.base, site=SITE_DOMAIN, fail=FAIL_DOMAIN, mx_port=self.mx_port,
            submission_port=self.submission_port, inbound=self.inbound_milter,
            outbound=self.outbound_milter, mailers=mailers))
        self._m4(self.submit_cf, common + MSP.format(base=self.base, submission_port=self.submission_port))

    def _m4(self, cf: Path, mc: str) -> None:
        source = cf.with_suffix(".mc")
        source.write_text(mc)
        m4 = shutil.which("m4") or "/usr/bin/m4"
        with open(cf, "wb") as out:
            subprocess.run([m4, str(source)], stdout=out, check=True, timeout=60)

    def start(self) -> PrivateSendmail:
        self.configure()
        with open(self.log_path, "ab") as log:
            # -bD: the daemon in the foreground (our child); -q30s runs the queue for retries.
            self.proc = subprocess.Popen([*self.command, "-bD", "-q30s", "-X", str(self.traffic)],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        self._await(lambda: (port_open(self.mx_port) and port_open(self.submission_port))
                    or self.proc.poll() is not None,  # type: ignore[union-attr]
                    60, "sendmail listeners")
        if self.proc.poll() is not None:
            raise RuntimeError(f"sendmail exited ({self.proc.returncode}): {self.log_text()[-2000:]}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the daemon's process group, then SIGKILL whatever of it is left
        (a delivery child outlives the daemon); the group's id is the pid we started."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def sendmail(self, message: bytes, sender: str, *recipients: str) -> None:
        """Submit as a local program would, with sendmail(1) and Debian's submit.cf: the MSP
        delivers it at once (``-odi``) over SMTP to the MSA daemon."""
        argv = ["unshare", "-m", "-u", str(self.base / "sendmail.sh"), "-C", str(self.submit_cf),
                "-odi", "-i", "-f", sender, *recipients]
        result = subprocess.run(argv, input=message, env=self.env, capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"sendmail(1) failed ({result.returncode}): "
                               f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}")

    def traffic_text(self) -> str:
        """The SMTP sessions Sendmail logged with -X (what it read and wrote), for failures."""
        try:
            return self.traffic.read_text(errors="replace")
        except OSError:
            return ""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing of it is left
        os.killpg(pgid, sig)
