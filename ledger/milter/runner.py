"""Run one milter on one socket until it is told to stop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import Milter

log = logging.getLogger("sender-ledger.milter")


def run(name: str, factory: Callable[[], Milter.Base], socket: str, timeout: int = 60) -> None:
    """Serve ``factory`` milters on ``socket`` (``unix:PATH`` or ``inet:PORT@HOST``).

    The unix socket is created world-connectable (umask 0) because Postfix's
    smtpd runs as ``postfix``, not as us; restrict access with the socket's
    directory instead (the systemd units do).
    """
    Milter.factory = factory
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
    if socket.startswith("unix:"):
        os.makedirs(os.path.dirname(socket[5:]) or ".", exist_ok=True)
    os.umask(0)
    log.info("%s milter listening on %s", name, socket)
    Milter.runmilter(f"sender-ledger-{name}", socket, timeout)
    log.info("%s milter stopped", name)
