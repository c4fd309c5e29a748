"""A private Postfix instance: its own config, queue and log, loopback ports.

Two smtpd listeners stand for the two sides of a real site:

* ``submission_port`` with the outbound milter (mail the domain sends),
* ``mx_port`` with the inbound milter (mail the domain receives),

and ``non_smtpd_milters`` runs the outbound milter for ``sendmail(1)``. With
``srs_table`` (a private postsrsd's forward table) a third listener,
``forward_port``, stands for mail the site forwards: no milter, and its
cleanup rewrites the envelope sender into an SRS address of the site, so the
bounces of forwarded mail come back to SRS addresses.
Mail to ``fail.test`` goes to a sink that refuses every recipient with 550,
so Postfix's bounce daemon makes a real DSN; mail to the site's own domain
goes to a capture sink that keeps every message as a file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from testbed.procs import port_open, wait_for

SITE_DOMAIN = "example.test"
FAIL_DOMAIN = "fail.test"
OTHER_DOMAIN = "elsewhere.test"


def pristine_master_cf() -> Path:
    """Debian's master.cf as the package ships it (/etc/postfix/master.cf where that is absent)."""
    dist = Path("/usr/share/postfix/master.cf.dist")
    return dist if dist.exists() else Path("/etc/postfix/master.cf")


def make_instance_dirs(workdir: Path) -> Path:
    """Data, queue and config directories of a new private instance; returns the config directory.

    main.cf starts empty (Postfix's defaults) and master.cf is Debian's pristine one, so that
    ``postconf -c`` edits a copy and /etc/postfix stays as it is. Not /etc/postfix/master.cf:
    an operator, or tests/test_deployment.py for a minute, may have added services to it (a
    submission service on 587), which every private instance would then start too.
    """
    (workdir / "data").mkdir(parents=True)
    (workdir / "queue").mkdir()
    etc = workdir / "etc"
    etc.mkdir()
    shutil.chown(workdir / "data", "postfix")
    (etc / "main.cf").write_text("")
    shutil.copy(pristine_master_cf(), etc / "master.cf")
    return etc


def loopback_settings(workdir: Path) -> list[str]:
    """main.cf settings every private instance shares: own queue and log, loopback only, no local
    delivery and no DNS, so that it never reaches beyond the machine."""
    return [
        f"queue_directory={workdir}/queue",
        f"data_directory={workdir}/data",
        f"maillog_file={workdir}/maillog",
        f"maillog_file_prefixes={workdir}",
        "mydestination=",
        "local_recipient_maps=",
        "inet_interfaces=127.0.0.1",
        "inet_protocols=ipv4",
        "mynetworks=127.0.0.0/8",
        "smtpd_relay_restrictions=permit_mynetworks, reject_unauth_destination",
        "smtp_dns_support_level=disabled",
        "alias_maps=",
        "alias_database=",
        "compatibility_level=3.6",
        "in_flow_delay=0",
    ]


class PrivatePostfix:
    def __init__(
        self,
        workdir: Path,
        *,
        mx_port: int,
        submission_port: int,
        inbound_milter: str,
        outbound_milter: str,
        capture_port: int,
        fail_port: int,
        relay_port: int,
        plain_port: int | None = None,
        floor_port: int | None = None,
        floor_milter: str = "",
        forward_port: int | None = None,
        srs_table: str = "",
    ) -> None:
        self.dir = workdir
        self.etc = workdir / "etc"
        self.mx_port = mx_port
        self.submission_port = submission_port
        self.inbound_milter = inbound_milter
        self.outbound_milter = outbound_milter
        self.capture_port = capture_port
        self.fail_port = fail_port
        self.relay_port = relay_port
        self.plain_port = plain_port  # a listener without milters, a benchmark's baseline
        self.floor_port = floor_port  # a listener with the no-op milter, a benchmark's floor
        self.floor_milter = floor_milter
        self.forward_port = forward_port  # a forwarder's listener, senders SRS-rewritten
        self.srs_table = srs_table
        self.started = False

    @property
    def maillog(self) -> Path:
        return self.dir / "maillog"

    def _run(self, *argv: str) -> str:
        # Postfix tools log to syslog, which does not exist here; `script` would
        # be needed to see their errors, so check return codes and show maillog.
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.maillog.read_text(errors='replace')[-2000:] if self.maillog.exists() else ''}"
            )
        return result.stdout

    def postconf(self, *settings: str) -> None:
        self._run("postconf", "-c", str(self.etc), "-e", *settings)

    def configure(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        make_instance_dirs(self.dir)
        transports = (
            f"{FAIL_DOMAIN}=smtp:[127.0.0.1]:{self.fail_port}, "
            f"{SITE_DOMAIN}=smtp:[127.0.0.1]:{self.capture_port}"
        )
        self.postconf(
            *loopback_settings(self.dir),
            "myhostname=mx.example.test",
            f"mydomain={SITE_DOMAIN}",
            f"myorigin={SITE_DOMAIN}",
            f"relayhost=[127.0.0.1]:{self.relay_port}",
            f"transport_maps=inline:{{ {transports} }}",
            # Benchmarks refuse thousands of forged bounces per session: no tarpit.
            "smtpd_error_sleep_time=0",
            "smtpd_soft_error_limit=100000",
            "smtpd_hard_error_limit=100000",
            "milter_default_action=tempfail",
            "milter_protocol=6",
            f"non_smtpd_milters={self.outbound_milter}",
            "smtpd_milters=",
            "bounce_queue_lifetime=0",
            "delay_warning_time=0",
            "smtp_connect_timeout=5s",
            "queue_run_delay=5s",
            "minimal_backoff_time=5s",
            "maximal_backoff_time=10s",
        )
        etc = str(self.etc)
        subprocess.run(["postconf", "-c", etc, "-F", "*/*/chroot = n"], check=True,
                       capture_output=True)
        subprocess.run(["postconf", "-c", etc, "-MX", "smtp/inet"], check=True,
                       capture_output=True)
        mx = (f"127.0.0.1:{self.mx_port}/inet=127.0.0.1:{self.mx_port} inet n - n - - smtpd "
              f"-o smtpd_milters={self.inbound_milter} -o syslog_name=postfix/mx")
        sub = (f"127.0.0.1:{self.submission_port}/inet=127.0.0.1:{self.submission_port} inet n - n "
               f"- - smtpd -o smtpd_milters={self.outbound_milter} "
               f"-o syslog_name=postfix/submission "
               # a list server may ask for VERP senders (MAIL FROM ... XVERP): tests/test_verp.py
               f"-o smtpd_authorized_verp_clients=127.0.0.0/8")
        services = [mx, sub]
        if self.plain_port:
            services.append(f"127.0.0.1:{self.plain_port}/inet=127.0.0.1:{self.plain_port} inet n - n "
                            f"- - smtpd -o smtpd_milters= -o syslog_name=postfix/plain")
        if self.floor_port:
            services.append(f"127.0.0.1:{self.floor_port}/inet=127.0.0.1:{self.floor_port} inet n - n "
                            f"- - smtpd -o smtpd_milters={self.floor_milter} -o syslog_name=postfix/floor")
        if self.forward_port:
            services.append(f"127.0.0.1:{self.forward_port}/inet=127.0.0.1:{self.forward_port} inet n "
                            f"- n - - smtpd -o smtpd_milters= -o cleanup_service_name=cleanup-srs "
                            f"-o syslog_name=postfix/forwarder")
            services.append(f"cleanup-srs/unix=cleanup-srs unix n - n - 0 cleanup "
                            f"-o sender_canonical_maps={self.srs_table} "
                            f"-o sender_canonical_classes=envelope_sender")
        for service in services:
            subprocess.run(["postconf", "-c", etc, "-M", service], check=True, capture_output=True)

    def start(self) -> PrivatePostfix:
        self.configure()
        self._run("postfix", "-c", str(self.etc), "check")
        self._run("postfix", "-c", str(self.etc), "start")
        self.started = True
        ports = [p for p in (self.mx_port, self.submission_port, self.plain_port, self.floor_port,
                             self.forward_port) if p]
        try:
            wait_for(lambda: all(port_open(p) for p in ports), 20, "postfix listeners")
        except RuntimeError:
            self.stop()  # a failed start leaves no master process behind
            raise
        return self

    def stop(self) -> None:
        if self.started:
            subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True,
                           timeout=60)
            self.started = False

    def flush(self) -> None:
        subprocess.run(["postqueue", "-c", str(self.etc), "-f"], capture_output=True, timeout=30)

    def sendmail(self, message: bytes, sender: str, *recipients: str) -> None:
        """Submit through sendmail(1): the non_smtpd_milters path."""
        subprocess.run(["sendmail", "-C", str(self.etc), "-f", sender, "-i", *recipients],
                       input=message, check=True, capture_output=True, timeout=60)

    def queue_is_empty(self) -> bool:
        out = subprocess.run(["postqueue", "-c", str(self.etc), "-j"], capture_output=True,
                             text=True, timeout=30).stdout
        return not out.strip()
