"""Run one milter on one socket, in one process or in N worker processes.

CPython runs one milter process on one core at a time, so with ``workers``
above 1 the parent binds the socket once and forks workers that all accept
on it (libmilter's listener takes an already open socket as it is).

Invariants:

* the socket is bound by the parent with umask 0 (Postfix's smtpd runs as
  ``postfix``, not as us: restrict access with the socket's directory, as the
  systemd units do), before any worker exists, so every worker serves the
  same socket and a restarted worker needs no new bind; the umask is restored
  after the bind, so nothing else the milter makes is world-writable;
* nothing that owns a thread or a connection exists before a fork: ``setup``
  runs in each worker after it, so each worker has its own Redis connection,
  bookkeeper thread and (outbound) spool segment and drainer;
* SIGTERM, SIGINT or SIGHUP to the parent stops every worker (SIGTERM, then
  SIGKILL after :data:`STOP_SECONDS`) and the parent exits 0;
* a worker that dies is replaced at once, at most :data:`RESTARTS` times in
  :data:`RESTART_WINDOW` seconds; past that, or when the unix socket file has
  gone, the parent stops the others and exits 1, and systemd
  (``Restart=on-failure``) starts the whole milter afresh.

Costs: the parent is one idle process (~30 MiB, it imported pymilter); each
worker is a whole milter (its own memory, ~35 MiB, and Redis connection).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import Milter
from Milter import milter

log = logging.getLogger("sender-ledger.milter")

Factory = Callable[[], Milter.Base]
# Builds one process's milter (connections, threads) and tears it down at the end.
Setup = Callable[[], AbstractContextManager[Factory]]

STOP_SECONDS = 15.0  # pymilter takes 2-6 s to stop; the systemd units allow 20
RESTARTS = 5
RESTART_WINDOW = 60.0
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def run(name: str, setup: Setup, socket: str, timeout: int = 60, workers: int = 1) -> int:
    """Serve the milter ``setup`` builds on ``socket`` (``unix:PATH`` or ``inet:PORT@HOST``).

    Returns the exit status: 0 when told to stop, 1 when workers kept dying.
    """
    if socket.startswith("unix:"):
        os.makedirs(os.path.dirname(socket[5:]) or ".", exist_ok=True)
    # Bound here, once, before any worker exists: they inherit the listening socket, and
    # pymilter's runmilter later finds it open. Only the bind runs with umask 0: files the
    # milter makes afterwards (spool segments) keep the process's own umask.
    umask = os.umask(0)
    try:
        Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
        milter.setconn(socket)
        milter.register(f"sender-ledger-{name}")
        milter.opensocket(True)
    finally:
        os.umask(umask)
    if workers <= 1:
        with setup() as factory:
            _serve(name, factory, socket, timeout)
        return 0
    log.info("%s milter listening on %s with %d workers", name, socket, workers)
    return Supervisor(name, setup, socket, timeout, workers).run()


def _serve(name: str, factory: Factory, socket: str, timeout: int) -> None:
    Milter.factory = factory
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
    log.info("%s milter listening on %s", name, socket)
    Milter.runmilter(f"sender-ledger-{name}", socket, timeout, rmsock=False)  # already open
    log.info("%s milter stopped", name)


class Supervisor:
    """The parent of the workers: starts them, replaces dead ones, stops them all."""

    def __init__(self, name: str, setup: Setup, socket: str, timeout: int, workers: int) -> None:
        self.name = name
        self.setup = setup
        self.socket = socket
        self.timeout = timeout
        self.workers = workers
        self.children: set[int] = set()
        self.deaths: list[float] = []
        self.parent = os.getpid()

    def run(self) -> int:
        waited = {*_STOP_SIGNALS, signal.SIGCHLD}
        signal.pthread_sigmask(signal.SIG_BLOCK, waited)
        try:
            for _ in range(self.workers):
                self._spawn()
            while True:
                info = signal.sigtimedwait(waited, 1.0)
                if info is not None and info.si_signo in _STOP_SIGNALS:
                    log.info("%s milter: signal %d, stopping %d workers", self.name,
                             info.si_signo, len(self.children))
                    self.stop()
                    return 0
                if not self._reap_and_replace():
                    self.stop()
                    return 1
        finally:
            self.stop()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker, which never returns here
            os._exit(self._worker())
        self.children.add(pid)

    def _worker(self) -> int:
        # libmilter's own signal thread sigwaits for SIGTERM/SIGINT/SIGHUP: keep them
        # blocked in every thread setup starts, so a stop is libmilter's clean one.
        signal.pthread_sigmask(signal.SIG_SETMASK, _STOP_SIGNALS)
        _die_with_parent(self.parent)
        try:
            log.info("%s worker pid=%d started", self.name, os.getpid())
            with self.setup() as factory:
                _serve(self.name, factory, self.socket, self.timeout)
            return 0
        except BaseException:
            log.exception("%s worker pid=%d failed", self.name, os.getpid())
            return 1
        finally:
            logging.shutdown()

    def _reap_and_replace(self) -> bool:
        """Reap dead workers and start their replacements; False when that must stop."""
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid not in self.children:
                continue
            self.children.discard(pid)
            log.error("%s worker pid=%d died (%s)", self.name, pid, _describe(status))
            now = time.monotonic()
            self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW] + [now]
            if len(self.deaths) > RESTARTS:
                log.error("%s milter: %d workers died within %.0f s: giving up (exit 1)",
                          self.name, len(self.deaths), RESTART_WINDOW)
                return False
            if self.socket.startswith("unix:") and not os.path.exists(self.socket[5:]):
                log.error("%s milter: socket %s is gone: exiting to be started afresh",
                          self.name, self.socket[5:])
                return False
            self._spawn()
        return True

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL the ones still there after STOP_SECONDS, reap all."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while self.children and time.monotonic() < deadline:
            self._reap_quietly()
            time.sleep(0.05)
        for pid in self.children:
            log.warning("%s worker pid=%d outlived %.0f s: killed", self.name, pid, STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while self.children:
            pid, _ = os.waitpid(-1, 0)
            self.children.discard(pid)

    def _reap_quietly(self) -> None:
        while self.children:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            self.children.discard(pid)


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGTERM this worker when the parent dies, even by SIGKILL: no orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own stop() is all there is
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
