"""Make real OpenSMTPD bounces for tests/corpus/backscatter/opensmtpd-real-*/ (run as root).

    .venv/bin/python -m tests.corpus.generate opensmtpd [--out tests/corpus]

OpenSMTPD conflicts with Postfix as a Debian package, so it is never installed:
`apt-get download opensmtpd` and `dpkg -x` unpack it into a scratch directory,
and smtpd runs in private mount and UTS namespaces (`unshare -m -u`): a copy of
/etc/passwd names its privilege-separation users, tmpfs mounts give it its
compiled-in queue, chroot and socket paths, and the namespace's host name makes
it mx3.example.net. Nothing outside the namespaces changes. Its bounces are
multipart/mixed (not multipart/report) with a message/delivery-status and a
text/rfc822-headers part: a non-standard "bounce" by docs/policy.md's kinds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from testbed import free_port
from tests.corpus.generate import realmta

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


class PrivateOpenSMTPD(realmta.Daemon):
    """An unpacked OpenSMTPD run in its own namespaces, stopped by its pid."""

    def unpack(self) -> None:
        realmta.unpack_debs(["opensmtpd"], self.base, self.base / "root")
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
        self.spawn(argv, self.base / "smtpd.log", "private opensmtpd")


def main(argv: list[str] | None = None) -> int:
    out = realmta.corpus_args(__doc__, argv, ["unshare"], "needs root and unshare(1)")
    if out is None:
        return 2
    with realmta.scratch_site("corpus-opensmtpd-") as site:
        smtpd = PrivateOpenSMTPD(site.base, free_port(), site.ports)
        smtpd.unpack()
        version = smtpd.version()
        site.start(smtpd)
        writer = realmta.Writer(
            Path(out), f"real software: OpenSMTPD {version} (Debian opensmtpd)", kind="bounce"
        )
        todo = realmta.jobs("opensmtpd-real", "opensmtpd-real", success=False, delays=False, label="bounce")
        written = realmta.run_jobs(
            todo, realmta.submit(smtpd.port), site.capture, writer, lambda job: None, lambda: None
        )
    return realmta.report(written, "real OpenSMTPD bounces", out, "opensmtpd-real-*", "opensmtpd")


if __name__ == "__main__":
    raise SystemExit(main())
