"""Make real Sendmail bounces for tests/corpus/backscatter/sendmail-real-*/ (run as root).

    .venv/bin/python -m tests.corpus.generate sendmail [--out tests/corpus]

Sendmail conflicts with Postfix as a Debian package, so it is never installed:
`apt-get download` fetches sendmail-bin, sendmail-cf, m4 and libwrap0, `dpkg -x`
unpacks them into a scratch directory (the binary's set-group-ID bit is dropped
so that LD_LIBRARY_PATH applies), m4 builds a sendmail.cf from the shipped
sendmail-cf macros, and `sendmail -C that.cf -odi` (in a private mount and UTS namespace whose /etc/hosts
knows its host name) delivers each message through
a smart host: an in-process SMTP sink that refuses FAIL recipients, defers SLOW
ones and keeps what comes back to example.test. Two configurations: RFC 3464
reports (the default), and SendMimeErrors off, which gives the classic non-MIME
"Returned mail" text with the transcript and the returned message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from testbed import free_port
from tests.corpus.generate import realmta
from tests.corpus.generate.pysink import PySink

PACKAGES = ("sendmail-bin", "sendmail-cf", "m4", "libwrap0")
# Sendmail qualifies the host name through the resolver before it reads its .cf; with no DNS here
# that waits a minute per run. A private mount+UTS namespace gives it a name that /etc/hosts knows.
WRAPPER = """#!/bin/sh
set -e
mount --bind {base}/hosts /etc/hosts
hostname mx4.example.net
exec {binary} "$@"
"""
MC = """divert(-1)
divert(0)dnl
include(`{root}/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`sender-ledger corpus')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `mx4.example.net')dnl
define(`QUEUE_DIR', `{queue}')dnl
define(`SMART_HOST', `esmtp:[127.0.0.1]')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {port}')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {port}')dnl
define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_QUEUEWARN', `2s')dnl
define(`confMIME_FORMAT_ERRORS', `{mime}')dnl
define(`STATUS_FILE', `{base}/statistics')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confPID_FILE', `{base}/sendmail.pid')dnl
define(`ALIAS_FILE', `{base}/aliases')dnl
define(`confSERVICE_SWITCH_FILE', `{base}/service.switch')dnl
define(`confHOSTS_FILE', `{base}/hosts')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confTO_IDENT', `0')dnl
FEATURE(`nocanonify')dnl
MAILER(`smtp')dnl
"""


class UnpackedSendmail:
    """Sendmail from the Debian packages, run per message with its own .cf."""

    def __init__(self, base: Path, port: int) -> None:
        self.base, self.port = base, port
        self.root = base / "root"
        self.binary = self.root / "usr/libexec/sendmail/sendmail"
        self.env = dict(os.environ, LD_LIBRARY_PATH=str(self.root / "usr/lib/x86_64-linux-gnu"))
        self.command = ["unshare", "-m", "-u", str(base / "sendmail.sh")]

    def unpack(self) -> None:
        realmta.unpack_debs(PACKAGES, self.base, self.root)
        self.binary.chmod(0o755)
        (self.base / "aliases").write_text("postmaster: root\n")
        # No DNS here: host and alias lookups from files only, or each run waits for resolver timeouts.
        (self.base / "service.switch").write_text("hosts files\naliases files\n")
        (self.base / "hosts").write_text("127.0.0.1 mx4.example.net mx4 localhost\n")
        wrapper = self.base / "sendmail.sh"
        wrapper.write_text(WRAPPER.format(base=self.base, binary=self.binary))
        wrapper.chmod(0o755)

    def configure(self, name: str, mime: bool) -> Path:
        queue = self.base / f"queue-{name}"
        queue.mkdir(mode=0o700)
        mc = self.base / f"{name}.mc"
        mc.write_text(
            MC.format(
                root=self.root, queue=queue, port=self.port, base=self.base, mime="True" if mime else "False"
            )
        )
        cf = self.base / f"{name}.cf"
        with open(cf, "wb") as out:
            subprocess.run([str(self.root / "usr/bin/m4"), str(mc)], stdout=out, check=True, timeout=60)
        return cf

    def version(self) -> str:
        """The package version (asking the binary needs a working .cf and may block on DNS)."""
        deb = next(self.base.glob("sendmail-bin_*.deb"))
        out = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip().split("-")[0] or "8"

    def sender(self, cf: Path) -> realmta.Sender:
        def send(job: realmta.Job) -> None:
            argv = [*self.command, "-C", str(cf), "-odi", "-oi", "-f", job.original.sender]
            for option in job.mail_options:
                key, _, value = option.partition("=")
                argv += {"RET": ["-R", value.lower()], "ENVID": ["-V", value], "BODY": ["-B", value]}[key]
            for option in job.rcpt_options:
                argv += ["-N", option.partition("=")[2].lower()]
            argv += job.original.recipients
            subprocess.run(argv, input=job.raw, env=self.env, capture_output=True, timeout=120)

        return send

    def run_queue(self, cf: Path) -> None:
        subprocess.run([*self.command, "-C", str(cf), "-q"], env=self.env, capture_output=True, timeout=120)

    def clear_queue(self, cf: Path) -> None:
        queue = self.base / f"queue-{cf.stem}"
        for entry in queue.iterdir():
            entry.unlink()


def main(argv: list[str] | None = None) -> int:
    out = realmta.corpus_args(__doc__, argv, [], "needs root (sendmail -C as root keeps its privileges)")
    if out is None:
        return 2
    base = Path(tempfile.mkdtemp(prefix="corpus-sendmail-"))
    sink = PySink(base / "capture", free_port())
    sendmail = UnpackedSendmail(base, sink.port)
    written = 0
    try:
        sendmail.unpack()
        version = sendmail.version()
        sink.start()
        for name, mime, kind in (("dsn", True, "dsn"), ("text", False, "bounce")):
            cf = sendmail.configure(name, mime)

            def after_submit(job: realmta.Job, cf: Path = cf) -> None:
                if job.folder.endswith("delay"):
                    time.sleep(3)
                    sendmail.run_queue(cf)

            writer = realmta.Writer(
                Path(out), f"real software: Sendmail {version} (Debian sendmail-bin)", kind=kind
            )
            todo = realmta.jobs("sendmail-real", f"sendmail-real-{name}", success=False, label=name)
            written += realmta.run_jobs(
                todo, sendmail.sender(cf), sink, writer, after_submit, partial(sendmail.clear_queue, cf)
            )
    finally:
        sink.stop()
        shutil.rmtree(base, ignore_errors=True)
    return realmta.report(written, "real Sendmail notices", out, "sendmail-real-*", "sendmail")


if __name__ == "__main__":
    raise SystemExit(main())
