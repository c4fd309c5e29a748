"""A private Redis Sentinel set: one master, its replicas and three sentinels, on loopback.

What a site that outgrew one Redis runs, small enough for a test: the sentinels
agree (quorum 2) that the master is down after ``down_after_ms`` and promote the
replica. Everything binds 127.0.0.1, lives under one directory and is stopped
by process id. The data nodes are plain :class:`RedisServer` children (no
persistence), so a killed master that is started again comes back empty and
is turned into a replica of the new master by the sentinels.

Cost: five processes; bring-up about a second once the replica has synced.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import redis

from testbed.procs import RedisServer, _Child, free_port, port_open, wait_for


class SentinelProcess(_Child):
    """One ``redis-server --sentinel`` with its own (rewritable) config file."""

    def __init__(self, workdir: Path, master_name: str, master_port: int, quorum: int,
                 down_after_ms: int, failover_timeout_ms: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "sentinel.log"
        self.conf = workdir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {master_name} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}\n"
            f"sentinel failover-timeout {master_name} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )

    def start(self) -> SentinelProcess:
        self._spawn([shutil.which("redis-server") or "/usr/bin/redis-server", str(self.conf),
                     "--sentinel"])
        self._await(lambda: port_open(self.port), 10, f"sentinel on {self.port}")
        return self

    def client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, socket_timeout=2, socket_connect_timeout=2)


class SentinelSet:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority)."""

    def __init__(self, workdir: Path, master_name: str = "ledger", replicas: int = 1,
                 sentinels: int = 3, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 6000) -> None:
        self.workdir = workdir
        self.master_name = master_name
        # A full resync starts at once, not after Redis' default 5 s wait for more replicas.
        fast_sync = ("--repl-diskless-sync-delay", "0")
        self.servers = [RedisServer(workdir / f"redis{i}", free_port(), fast_sync)
                        for i in range(1 + replicas)]
        first = self.servers[0]
        for replica in self.servers[1:]:
            replica.extra = (*fast_sync, "--replicaof", "127.0.0.1", str(first.port))
        self.sentinels = [
            SentinelProcess(workdir / f"sentinel{i}", master_name, first.port, sentinels // 2 + 1,
                            down_after_ms, failover_timeout_ms)
            for i in range(sentinels)
        ]

    @property
    def addresses(self) -> list[str]:
        """The sentinels as ``host:port``, as ``[redis] sentinels`` lists them."""
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def config(self) -> str:
        """The ``[redis]`` keys that point sender-ledger at this set (no section header)."""
        listed = ", ".join(f'"{a}"' for a in self.addresses)
        return f'sentinels = [{listed}]\nsentinel_master = "{self.master_name}"\n'

    def start(self) -> SentinelSet:
        try:
            for server in self.servers:
                server.start()
            for replica in self.servers[1:]:
                wait_for(lambda r=replica: self._info(r).get("master_link_status") == "up",  # type: ignore[misc]
                         30, f"replica on {replica.port} in sync")
            for sentinel in self.sentinels:
                sentinel.start()
            wait_for(self.settled, 30, "sentinels that know each other and every replica")
        except BaseException:
            self.stop()  # nothing outlives a failed start
            raise
        return self

    def stop(self) -> None:
        for child in [*self.sentinels, *self.servers]:
            child.stop()

    # -- what the sentinels say ------------------------------------------------
    def _state(self, sentinel: SentinelProcess) -> dict[str, object] | None:
        try:
            with sentinel.client() as client:
                masters = client.sentinel_masters()
        except redis.RedisError:
            return None
        state = masters.get(self.master_name)
        return state if isinstance(state, dict) else None

    def named_master(self, sentinel: SentinelProcess | None = None) -> RedisServer | None:
        """The data node a sentinel (default: the first that answers) names as master."""
        for candidate in [sentinel] if sentinel else self.sentinels:
            state = self._state(candidate)
            if state is not None:
                return self.server_on(int(str(state["port"])))
        return None

    def config_epoch(self) -> int:
        """The newest configuration epoch any sentinel knows (each fail-over raises it)."""
        states = [self._state(s) for s in self.sentinels]
        return max((int(str(st.get("config-epoch", 0))) for st in states if st), default=0)

    def server_on(self, port: int) -> RedisServer | None:
        return next((s for s in self.servers if s.port == port), None)

    def settled(self) -> bool:
        """Every sentinel names the same master, up, that reports itself master, with
        every other node attached to it as a replica in sync, and sees the other sentinels.

        A replica just resynced may not acknowledge writes for up to a second more (the
        master waits for its first REPLCONF ACK): tests that need WAIT to succeed probe it.
        """
        names = set()
        for sentinel in self.sentinels:
            state = self._state(sentinel)
            if (state is None or state.get("is_sdown") or state.get("is_odown")
                    or state.get("num-other-sentinels") != len(self.sentinels) - 1
                    or int(str(state.get("num-slaves", 0))) < len(self.servers) - 1):
                return False
            names.add(int(str(state["port"])))
        if len(names) != 1:
            return False
        master = self.server_on(names.pop())
        if master is None:
            return False
        info = self._info(master)
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                  and v.get("state") == "online"]
        if info.get("role") != "master" or len(online) < len(self.servers) - 1:
            return False
        return all(self._info(s).get("master_link_status") == "up" and
                   str(self._info(s).get("master_port")) == str(master.port)
                   for s in self.servers if s is not master)

    def wait_settled(self, timeout: float = 60) -> RedisServer:
        """Wait until :meth:`settled`; returns the master."""
        wait_for(self.settled, timeout, "a settled sentinel set")
        master = self.named_master()
        assert master is not None
        return master

    @staticmethod
    def _info(server: RedisServer) -> dict[str, object]:
        try:
            with redis.Redis("127.0.0.1", server.port, socket_timeout=1,
                             socket_connect_timeout=1) as client:
                return dict(client.info("replication"))
        except redis.RedisError:
            return {}

    # -- what the tests do to it -------------------------------------------------
    def restart_as_replica(self, server: RedisServer, master: RedisServer) -> None:
        """Start a stopped data node again as a replica of ``master``, as a careful supervisor
        does with a master that has no persistence: never as an empty master (Redis' hazard)."""
        extra = list(server.extra)
        if "--replicaof" in extra:
            at = extra.index("--replicaof")
            del extra[at:at + 3]
        server.extra = (*extra, "--replicaof", "127.0.0.1", str(master.port))
        server.start()

    def kill_master(self) -> RedisServer:
        """SIGKILL the master the sentinels name; returns it (stopped)."""
        master = self.named_master()
        assert master is not None, "no sentinel names a master"
        master.kill()
        return master

    def failover(self) -> RedisServer:
        """A planned switchover (``SENTINEL FAILOVER``); returns the master it started from."""
        master = self.named_master()
        assert master is not None, "no sentinel names a master"
        self.order_failover(self.sentinels[0])
        return master

    def order_failover(self, sentinel: Any, timeout: float = 30) -> None:
        """``SENTINEL FAILOVER`` through ``sentinel``, asked again while the sentinel says it
        cannot yet (a fail-over still in progress, no replica good enough so soon after a
        resync): a busy shared machine makes those windows longer."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with sentinel.client() as client:
                    client.execute_command("SENTINEL", "FAILOVER", self.master_name)
                return
            except redis.ResponseError as exc:
                if time.monotonic() > deadline or not any(
                        word in str(exc) for word in ("INPROGRESS", "NOGOODSLAVE", "NOGOODREPLICA")):
                    raise
                time.sleep(0.2)

    def wait_new_master(self, old: RedisServer, timeout: float = 30) -> RedisServer:
        """Wait until every sentinel names a master other than ``old``; returns it."""
        def moved() -> bool:
            named = [self.named_master(s) for s in self.sentinels]
            return all(n is not None and n is not old for n in named)
        wait_for(moved, timeout, f"the sentinels to name a master other than {old.port}")
        master = self.named_master()
        assert master is not None
        return master
