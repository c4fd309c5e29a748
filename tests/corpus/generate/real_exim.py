"""Make real Exim DSNs for tests/corpus/backscatter/exim4-real-*/ (run as root).

    .venv/bin/python -m tests.corpus.generate exim [--out tests/corpus]

Exim conflicts with Postfix as a Debian package, so it is never installed:
`apt-get download` fetches exim4-daemon-light and libidn12, `dpkg -x` unpacks
them into a scratch directory, and Exim runs in a private mount namespace
(`unshare -m`) where a copy of /etc/passwd names its compiled-in user and a
tmpfs on /usr/sbin holds the binary at its compiled-in path (it re-executes
itself). Nothing outside the namespace changes. The Exim daemon, on a loopback
port, plays the remote site mx2.example.net; see realmta.py
for the routing and the mix of submissions.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from testbed import free_port
from tests.corpus.generate import realmta

PACKAGES = ("exim4-daemon-light", "libidn12")
WRAPPER = """#!/bin/sh
set -e
mount --bind {base}/passwd /etc/passwd
mount --bind {base}/group /etc/group
mount -t tmpfs none /usr/sbin
cp {base}/root/usr/sbin/exim4 /usr/sbin/exim4
export LD_LIBRARY_PATH={base}/root/usr/lib/x86_64-linux-gnu
exec /usr/sbin/exim4 "$@"
"""
CONFIG = """primary_hostname = mx2.example.net
qualify_domain = example.net
spool_directory = {base}/spool
log_file_path = {base}/log/%slog
keep_environment = LD_LIBRARY_PATH
exim_user = Debian-exim
exim_group = Debian-exim
trusted_users = root
local_interfaces = 127.0.0.1
daemon_smtp_ports = {port}
acl_smtp_rcpt = acl_rcpt
dsn_advertise_hosts = *
host_lookup =
rfc1413_hosts =
delay_warning = 3s
begin acl
acl_rcpt:
  accept
begin routers
remote:
  driver = manualroute
  domains = {fail} : {ok} : {slow} : example.test
  transport = ${{if eq{{$domain}}{{{fail}}}{{to_fail}}{{${{if eq{{$domain}}{{{ok}}}{{to_ok}}\\
    {{${{if eq{{$domain}}{{{slow}}}{{to_slow}}{{to_capture}}}}}}}}}}}}
  route_list = * 127.0.0.1
  self = send
begin transports
to_fail:
  driver = smtp
  port = {fail_port}
  allow_localhost
  hosts_avoid_tls = *
to_ok:
  driver = smtp
  port = {ok_port}
  allow_localhost
  hosts_avoid_tls = *
to_slow:
  driver = smtp
  port = {slow_port}
  allow_localhost
  hosts_avoid_tls = *
to_capture:
  driver = smtp
  port = {capture_port}
  allow_localhost
  hosts_avoid_tls = *
begin retry
* * F,1h,2s
"""
EXIM_UID = 64999


class PrivateExim(realmta.Daemon):
    """An unpacked Exim 4 run in its own mount namespace, stopped by its pid."""

    def unpack(self) -> None:
        realmta.unpack_debs(PACKAGES, self.base, self.base / "root")
        user = f"Debian-exim:x:{EXIM_UID}:{EXIM_UID}::/nonexistent:/usr/sbin/nologin\n"
        (self.base / "passwd").write_text(Path("/etc/passwd").read_text() + user)
        (self.base / "group").write_text(Path("/etc/group").read_text() + f"Debian-exim:x:{EXIM_UID}:\n")
        wrapper = self.base / "exim.sh"
        wrapper.write_text(WRAPPER.format(base=self.base))
        wrapper.chmod(0o755)
        for sub in ("spool", "log"):
            (self.base / sub).mkdir()
            os.chown(self.base / sub, EXIM_UID, EXIM_UID)
        (self.base / "exim.conf").write_text(
            CONFIG.format(
                base=self.base,
                port=self.port,
                fail=realmta.FAIL,
                ok=realmta.OK,
                slow=realmta.SLOW,
                **self.ports,
            )
        )

    def run(self, *args: str) -> str:
        argv = ["unshare", "-m", str(self.base / "exim.sh"), "-C", str(self.base / "exim.conf"), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout

    def version(self) -> str:
        match = re.search(r"Exim version (\S+)", self.run("-bV"))
        return match.group(1) if match else "4"

    def start(self) -> None:
        argv = ["unshare", "-m", str(self.base / "exim.sh"), "-C", str(self.base / "exim.conf"), "-bdf"]
        self.spawn(argv, self.base / "daemon.out", "private exim")

    def clear_queue(self) -> None:
        ids = re.findall(r"\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\b", self.run("-bp"))
        if ids:
            self.run("-Mrm", *ids)


def main(argv: list[str] | None = None) -> int:
    out = realmta.corpus_args(__doc__, argv, ["unshare"], "needs root and unshare(1)")
    if out is None:
        return 2
    with realmta.scratch_site("corpus-exim-") as site:
        exim = PrivateExim(site.base, free_port(), site.ports)
        exim.unpack()
        version = exim.version()
        site.start(exim)

        def after_submit(job: realmta.Job) -> None:
            if job.folder.endswith("delay"):
                time.sleep(4)
                exim.run("-qff")

        writer = realmta.Writer(Path(out), f"real software: Exim {version} (Debian exim4-daemon-light)")
        todo = realmta.jobs("exim4-real", "exim-real", success=False)
        written = realmta.run_jobs(
            todo, realmta.submit(exim.port), site.capture, writer, after_submit, exim.clear_queue
        )
    return realmta.report(written, "real Exim DSNs", out, "exim4-real-*", "exim")


if __name__ == "__main__":
    raise SystemExit(main())
