"""The floor a milter's speed is measured against: a pymilter that does nothing.

It negotiates away what it does not need, as a real milter should: no connect,
helo or body callbacks, no replies to envfrom, envrcpt and header, ``data()``
defined (without it an inet socket stalls 40 ms per message), and it accepts
at end of headers. What a real milter costs beyond this is its own work.

    python -m testbed.noop_milter unix:/path/noop.sock | inet:PORT@HOST
"""

from __future__ import annotations

import os
import sys

import Milter


class NoopMilter(Milter.Base):
    @Milter.nocallback
    def connect(self, hostname: str, family: int, hostaddr: object) -> int:
        return Milter.CONTINUE

    @Milter.nocallback
    def hello(self, hostname: str) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mail_from: str, *params: str) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, rcpt: str, *params: str) -> int:
        return Milter.CONTINUE

    def data(self) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name: str, value: str) -> int:
        return Milter.CONTINUE

    def eoh(self) -> int:
        return Milter.ACCEPT

    @Milter.nocallback
    def body(self, chunk: bytes) -> int:
        return Milter.CONTINUE


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].startswith(("unix:", "inet:")):
        print("usage: python -m testbed.noop_milter unix:PATH|inet:PORT@HOST", file=sys.stderr)
        return 2
    Milter.factory = NoopMilter
    os.umask(0)  # Postfix's smtpd (user postfix) must connect to the unix socket
    Milter.runmilter("noop", argv[0], 60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
