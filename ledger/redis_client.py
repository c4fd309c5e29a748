"""Redis connections and topology: one Redis, a Cluster, or a master behind Sentinel.

The ledger code (``ledger.store``) is the same on every topology; this module
decides where its commands go.

Invariants on Sentinel:

* A connection is only opened to the master named by the sentinel with the
  newest configuration epoch. A sentinel that has not yet heard of a fail-over
  (it learns from the others' hello messages, up to seconds later) still names
  the old master, which after a planned switchover stays writable for about
  ten seconds: redis-py's own choice (the first sentinel that answers) would
  write there, and those writes vanish when it is demoted and resynced.
* Pooled connections follow a change of master: a watcher thread per client
  listens for ``+switch-master`` and asks the sentinels again every
  ``POLL_SECONDS``; when the named master changed, idle connections are
  closed at once and busy ones when they are returned, so the next command
  resolves the new master.
* That alone does not make a write safe (one may be in flight while the
  master changes). Only ``WAIT`` does: see ``Ledger(wait_replicas=...)``.

Costs: resolving the master asks every sentinel (one round trip each; a
sentinel host that is down costs ``connect_timeout``), but only when a
connection is opened and once per ``POLL_SECONDS`` in the watcher; commands
themselves pay nothing. Reads are not confirmed: for up to one poll after a
switchover a lookup may still be served by the old master, which holds
everything recorded until the switch.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.connection import UnixDomainSocketConnection, parse_url
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool

from ledger.config import RedisSettings

log = logging.getLogger("sender-ledger.redis")

POLL_SECONDS = 1.0
SWITCH_CHANNEL = "+switch-master"


# redis-py before 4.4 (Debian 12 ships 4.3.4) has no socket_connect_timeout for unix
# sockets and raises TypeError on it; there socket_timeout bounds the connect as well.
_UNIX_TAKES_CONNECT_TIMEOUT = "socket_connect_timeout" in inspect.signature(
    UnixDomainSocketConnection.__init__).parameters


def connect(url: str, socket_timeout: float = 0.5, connect_timeout: float = 0.5) -> redis.Redis:
    """A Redis client for ``redis://``, ``rediss://`` or ``unix://`` URLs.

    Short timeouts and a single immediate retry: a dead ledger must cost the MTA
    at most about a second per message, never the default backoff of seconds.
    """
    options: dict[str, Any] = {}
    if not url.startswith("unix:") or _UNIX_TAKES_CONNECT_TIMEOUT:
        options["socket_connect_timeout"] = connect_timeout
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=False,
        **options,
    )


class NewestEpochSentinel(Sentinel):
    """A Sentinel manager that trusts the newest configuration, not the first answer.

    Every fail-over raises the master's ``config-epoch``; the sentinels that
    took part know the new master at once, the others only later. Asking all
    of them and keeping the highest epoch (ties: the address most of them
    name) never picks a master the set has already replaced.
    """

    def discover_master(self, service_name: str) -> tuple[str, int]:
        named: dict[tuple[str, int], list[int]] = {}
        errors: list[str] = []
        for sentinel in self.sentinels:
            try:
                masters = cast(dict[str, dict[str, Any]], sentinel.sentinel_masters())
                state = masters.get(service_name)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                errors.append(f"{sentinel}: {exc!r}")
                continue
            if state and self.check_master_state(state, service_name):  # type: ignore[no-untyped-call]
                address = (str(state["ip"]), int(state["port"]))
                named.setdefault(address, []).append(int(state.get("config-epoch", 0)))
        if not named:
            detail = f": {', '.join(errors)}" if errors else ""
            raise MasterNotFoundError(f"No master found for {service_name!r}{detail}")
        return max(named, key=lambda a: (max(named[a]), len(named[a])))


class MasterWatch:
    """A daemon thread that makes one Sentinel client's pool follow the named master.

    It holds the pool weakly and ends when the client is gone (or on :meth:`stop`).
    """

    def __init__(self, pool: SentinelConnectionPool, sentinel: Sentinel, master_name: str,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self._pool = weakref.ref(pool)
        self._sentinel = sentinel
        self._master_name = master_name
        self._poll = poll_seconds
        self._stopped = threading.Event()
        self.switches = 0  # +switch-master events seen for our master (for tests and logs)
        self._thread = threading.Thread(target=self._run, name=f"sentinel-watch-{master_name}",
                                        daemon=True)

    def start(self) -> MasterWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def refresh(self) -> bool:
        """Ask the sentinels again; close pooled connections if the master moved.

        False when the watch should end (its client is gone).
        """
        pool = self._pool()
        if pool is None:
            return False
        try:
            pool.get_master_address()  # type: ignore[no-untyped-call]  # closes idle connections on a change
        except redis.RedisError as exc:  # no master right now (mid fail-over): try again later
            log.debug("sentinel watch: %s", exc)
        return True

    def _run(self) -> None:
        index = 0
        while not self._stopped.is_set():
            hosts = self._sentinel.sentinels
            node = hosts[index % len(hosts)]
            index += 1
            kwargs = node.connection_pool.connection_kwargs
            listener = redis.Redis(kwargs.get("host", "127.0.0.1"), kwargs.get("port", 26379),
                                   socket_connect_timeout=kwargs.get("socket_connect_timeout"),
                                   socket_timeout=self._poll + 5, socket_keepalive=True,
                                   retry=Retry(NoBackoff(), 0))  # a dead sentinel: the next one
            try:
                with listener.pubsub(ignore_subscribe_messages=True) as pubsub:  # type: ignore[no-untyped-call]
                    pubsub.subscribe(SWITCH_CHANNEL)
                    if not self.refresh():  # a switch may have happened while we were away
                        return
                    while not self._stopped.is_set():
                        message = pubsub.get_message(timeout=self._poll)
                        if message is not None and self._is_ours(message):
                            self.switches += 1
                            log.info("sentinel: +switch-master %s", message["data"])
                        if not self.refresh():
                            return
            except redis.RedisError as exc:
                log.debug("sentinel watch on %s lost: %s", node, exc)
            except Exception:  # never let the thread die: without it, pooled connections stay put
                log.exception("sentinel watch on %s failed", node)
            finally:
                listener.close()
            if self._stopped.is_set() or not self.refresh():
                return
            self._stopped.wait(min(self._poll, 0.5))  # then the next sentinel

    def _is_ours(self, message: dict[str, Any]) -> bool:
        data = message.get("data")
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        return text.split(" ", 1)[0] == self._master_name


def _sentinel_client(settings: RedisSettings, options: dict[str, Any], follow: bool) -> redis.Redis:
    hosts = [(h, int(p)) for h, _, p in (s.rpartition(":") for s in settings.sentinels)]
    # The URL contributes only credentials, database and TLS; the sentinels say where.
    url_options: dict[str, Any] = dict(parse_url(settings.url))  # type: ignore[no-untyped-call]
    for key in ("host", "port", "path", "connection_class"):
        url_options.pop(key, None)
    # No retries towards a sentinel (redis-py's default backs off for seconds): one that
    # does not answer is skipped, the others say where the master is.
    sentinel_options = {**options, "retry": Retry(NoBackoff(), 0)}
    sentinel = NewestEpochSentinel(hosts, sentinel_kwargs=sentinel_options,  # type: ignore[no-untyped-call]
                                   **options)
    master = cast(redis.Redis, sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.sentinel_master, retry=Retry(NoBackoff(), 1), **url_options))
    if follow:
        pool = cast(SentinelConnectionPool, master.connection_pool)
        master.sentinel_watch = MasterWatch(pool, sentinel, settings.sentinel_master).start()  # type: ignore[attr-defined]
    return master


def client_for(settings: RedisSettings, follow: bool = True) -> redis.Redis:
    """The client the settings ask for: a single Redis, a Cluster, or via Sentinel.

    Whatever the topology, the ledger code above it is the same: the keys
    keep each bucket in one hash slot, and lookups are read-only functions.
    On Sentinel, ``follow`` starts the :class:`MasterWatch` (long-lived
    processes want it; a one-shot command resolves the master when it connects).
    """
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
    }
    if settings.cluster:
        cluster = RedisCluster.from_url(settings.url, **options)
        return cluster  # type: ignore[return-value]  # the same command API
    if settings.sentinels:
        return _sentinel_client(settings, options, follow)
    return connect(settings.url, settings.socket_timeout, settings.connect_timeout)
