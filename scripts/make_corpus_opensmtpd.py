#!/usr/bin/env python3
"""Make real OpenSMTPD bounces for tests/corpus/backscatter/opensmtpd-real-*/ (run as root).

    .venv/bin/python scripts/make_corpus_opensmtpd.py [--out tests/corpus]

OpenSMTPD conflicts with Postfix as a Debian package, so it is never installed:
`apt-get download opensmtpd` and `dpkg -x` unpack it into a scratch directory,
and smtpd runs in private mount and UTS namespaces (`unshare -m -u`): a copy of
/etc/passwd names its privilege-separation users, tmpfs mounts give it its
compiled-in queue, chroot and socket paths, and the namespace's host name makes
it mx3.example.net. Nothing outside the namespaces changes. Its bounces are
multipart/mixed (not multipart/report) with a message/delivery-status and a
text/rfc822-headers part: a non-standard "bounce" by ISSUE3-POLICY.md's kinds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.testbed import SmtpSink, free_port
from ledger.testbed.procs import port_open, wait_for
from scripts.corpusgen import realmta

HOST = "mx3.example.net"
USERS = {"opensmtpd": 64998, "opensmtpq": 64997}
WRAPPER = """#!/bin/sh
set -e
mount --bind {base}/passwd /etc/passwd
mount --bind {base}/group /etc/group
mount -t tmpfs none /var/spool
mount -t tmpfs none /var/lib
mount -t tmpfs none /run
mkdir -p /var/lib/opensmtpd/empty
hostname {host}
exec {base}/root/usr/sbin/smtpd "$@"
"""
CONFIG = """listen on 127.0.0.1 port {port} hostname {host}
action "fail" relay host smtp://127.0.0.1:{fail_port} helo {host}
action "ok" relay host smtp://127.0.0.1:{ok_port} helo {host}
action "capture" relay host smtp://127.0.0.1:{capture_port} helo {host}
match from any for domain "{fail}" action "fail"
match from any for domain "{ok}" action "ok"
match from any for domain "example.test" action "capture"
match from local for domain "example.test" action "capture"
"""


class PrivateOpenSMTPD:
    """An unpacked OpenSMTPD run in its own namespaces, stopped by its pid."""

    def __init__(self, base: Path, port: int, ports: dict[str, int]) -> None:
        self.base, self.port, self.ports = base, port, ports
        self.proc: subprocess.Popen[bytes] | None = None

    def unpack(self) -> None:
        subprocess.run(
            ["apt-get", "download", "-q", "opensmtpd"],
            cwd=self.base,
            check=True,
            capture_output=True,
            timeout=300,
        )
        for deb in sorted(self.base.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(self.base / "root")], check=True, timeout=120)
        users = "".join(f"{n}:x:{u}:{u}::/nonexistent:/usr/sbin/nologin\n" for n, u in USERS.items())
        groups = "".join(f"{n}:x:{u}:\n" for n, u in USERS.items())
        (self.base / "passwd").write_text(Path("/etc/passwd").read_text() + users)
        (self.base / "group").write_text(Path("/etc/group").read_text() + groups)
        wrapper = self.base / "smtpd.sh"
        wrapper.write_text(WRAPPER.format(base=self.base, host=HOST))
        wrapper.chmod(0o755)
        (self.base / "smtpd.conf").write_text(
            CONFIG.format(port=self.port, host=HOST, fail=realmta.FAIL, ok=realmta.OK, **self.ports)
        )

    def version(self) -> str:
        out = subprocess.run(
            ["unshare", "-m", "-u", str(self.base / "smtpd.sh"), "-h"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        match = re.search(r"version:\s*OpenSMTPD (\S+)", out.stdout + out.stderr)
        return match.group(1) if match else "6"

    def start(self) -> None:
        argv = ["unshare", "-m", "-u", str(self.base / "smtpd.sh"), "-d", "-f", str(self.base / "smtpd.conf")]
        with open(self.base / "smtpd.log", "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 20, "private opensmtpd")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "corpus"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("error: needs root and unshare(1)", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="corpus-opensmtpd-"))
    os.chmod(base, 0o755)
    sinks = [
        SmtpSink(base, free_port(), "fail", reject_rcpt=realmta.FAIL_REPLY),
        SmtpSink(base, free_port(), "ok"),
        SmtpSink(base, free_port(), "capture", dump=True),
    ]
    ports = {"fail_port": sinks[0].port, "ok_port": sinks[1].port, "capture_port": sinks[2].port}
    smtpd = PrivateOpenSMTPD(base, free_port(), ports)
    written = 0
    try:
        smtpd.unpack()
        version = smtpd.version()
        for sink in sinks:
            sink.start()
        smtpd.start()
        writer = realmta.Writer(
            Path(args.out), f"real software: OpenSMTPD {version} (Debian opensmtpd)", kind="bounce"
        )
        todo = realmta.jobs("opensmtpd-real", "opensmtpd-real", success=False, delays=False, label="bounce")
        written = realmta.run_jobs(
            todo, realmta.submit(smtpd.port), sinks[2], writer, lambda job: None, lambda: None
        )
    finally:
        smtpd.stop()
        for sink in reversed(sinks):
            sink.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {written} real OpenSMTPD bounces under {args.out}/backscatter/opensmtpd-real-*")
    print(f"rerun: {sys.argv[0]} --out {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
