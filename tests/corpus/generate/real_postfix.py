"""Make real Postfix DSNs for tests/corpus/backscatter/postfix-*/ (run as root).

    .venv/bin/python -m tests.corpus.generate postfix [--out tests/corpus]

A private Postfix (own config, queue and log under a scratch directory, loopback
only) plays a remote site, mx1.example.net. Messages "from" our users are
submitted to it over SMTP, addressed to domains routed to smtp-sinks that refuse
every recipient (example.com), accept (example.org) or are not listening at all
(slow.example, for delay warnings). Postfix's bounce daemon then sends real DSNs
to example.test, routed to a capture sink that keeps each as a file. Variations:
RET=FULL and RET=HDRS, ENVID, NOTIFY=SUCCESS, several recipients, partial
failure, 8-bit and base64 originals, folded Message-ID, delay warnings.

Dates and queue IDs come from the real run, so a rerun gives new files of the
same shape (the originals and expectations are seeded and stay the same).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed import free_port
from testbed.postfix import loopback_settings, make_instance_dirs
from testbed.procs import port_open, wait_for
from tests.corpus.generate import common as c
from tests.corpus.generate import realmta

HOST = "mx1.example.net"
FAIL, OK, SLOW = realmta.FAIL, realmta.OK, realmta.SLOW


def postfix_version() -> str:
    out = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


class RemotePostfix:
    """The private Postfix that makes the DSNs (not the project's testbed: no milters here)."""

    def __init__(self, base: Path, port: int, ports: dict[str, int]) -> None:
        self.dir, self.etc, self.port = base, base / "etc", port
        self.routes = (
            f"{FAIL}=smtp:[127.0.0.1]:{ports['fail_port']}, {OK}=smtp:[127.0.0.1]:{ports['ok_port']}, "
            f"{c.SITE}=smtp:[127.0.0.1]:{ports['capture_port']}, {SLOW}=smtp:[127.0.0.1]:{ports['slow_port']}"
        )

    def _postconf(self, *args: str) -> None:
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True, capture_output=True)

    def start(self) -> None:
        make_instance_dirs(self.dir)
        self._postconf(
            "-e",
            *loopback_settings(self.dir),
            f"myhostname={HOST}",
            "mydomain=example.net",
            "myorigin=example.net",
            f"transport_maps=inline:{{ {self.routes} }}",
            "default_transport=error:no route",
            "delay_warning_time=2s",
            "queue_run_delay=2s",
            "minimal_backoff_time=2s",
            "maximal_backoff_time=4s",
            "smtp_connect_timeout=2s",
            "bounce_queue_lifetime=1h",
            "maximal_queue_lifetime=1h",
            "smtputf8_enable=no",
            "smtp_discard_ehlo_keywords=dsn",
        )
        self._postconf("-F", "*/*/chroot = n")
        self._postconf("-MX", "smtp/inet")
        self._postconf("-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        subprocess.run(["postfix", "-c", str(self.etc), "check"], check=True, capture_output=True)
        subprocess.run(["postfix", "-c", str(self.etc), "start"], check=True, capture_output=True)
        wait_for(lambda: port_open(self.port), 20, "private postfix")

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        subprocess.run(["postsuper", "-c", str(self.etc), "-d", "ALL"], capture_output=True, timeout=60)


def main(argv: list[str] | None = None) -> int:
    out = realmta.corpus_args(__doc__, argv, ["postfix"], "needs root and an installed postfix")
    if out is None:
        return 2
    version = postfix_version()
    with realmta.scratch_site("corpus-postfix-") as site:
        remote = RemotePostfix(site.base / "postfix", free_port(), site.ports)
        writer = realmta.Writer(Path(out), f"real software: Postfix {version}")
        site.start(remote)

        def reset() -> None:
            subprocess.run(["postsuper", "-c", str(remote.etc), "-d", "ALL"], capture_output=True, timeout=60)

        todo = realmta.jobs("postfix", "postfix-real")
        written = realmta.run_jobs(
            todo, realmta.submit(remote.port), site.capture, writer, lambda job: None, reset
        )
    return realmta.report(written, f"real Postfix {version} DSNs", out, "postfix-*", "postfix")


if __name__ == "__main__":
    raise SystemExit(main())
