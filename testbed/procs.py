"""Child processes of the testbed: redis-server, smtp-sink, the milters."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ledger.redis_settings import REDIS_SETTINGS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 8.0) -> None:
    """SIGTERM a child we started (if it still runs), SIGKILL it if it outlives ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class _Child:
    """A child process with its output in a log file, stopped by its pid."""

    proc: subprocess.Popen[bytes] | None = None
    log_path: Path

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)

    def _await(self, predicate: object, timeout: float, what: str) -> None:
        """Wait until the child is ready; if it never is, stop it and say why."""
        try:
            wait_for(predicate, timeout, what)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; its log ends: {self.log_text()[-500:]!r}") from None

    def stop(self, timeout: float = 8.0) -> None:
        stop_process(self.proc, timeout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class RedisServer(_Child):
    """A private redis-server on a unix socket, plus a loopback TCP port when
    ``port`` is given (Cluster and Sentinel need one).

    No persistence unless ``appendonly``: then an AOF in ``workdir``, so that a
    restart (:meth:`start` again after :meth:`stop` or :meth:`kill`) keeps the data.
    """

    def __init__(self, workdir: Path, port: int = 0, extra: tuple[str, ...] = (),
                 appendonly: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = workdir / "redis.sock"
        self.log_path = workdir / "redis.log"
        self.port = port
        self.extra = extra
        self.appendonly = appendonly

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}" if self.port else f"unix://{self.socket_path}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "always", "--dir", str(self.workdir),
                "--latency-tracking", "no", *self.extra]
        for key, value in REDIS_SETTINGS.items():
            argv += [f"--{key}", value]
        self._spawn(argv)
        self._await(self._ready, 10, "redis-server")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown, no final AOF write."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def _ready(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(0.5)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class RedisCluster:
    """Three private redis-server nodes joined into one Redis Cluster (no replicas)."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.nodes = [
            RedisServer(workdir / f"node{i}", port,
                        ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
            for i, port in enumerate(self._cluster_port() for _ in range(nodes))
        ]

    @staticmethod
    def _cluster_port() -> int:
        """A free port whose cluster bus port (+10000) is free and valid too."""
        while True:
            port = free_port()
            if port <= 55535 and not port_open(port + 10000):
                return port

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
                            "--cluster-yes"], check=True, capture_output=True, timeout=60)
            wait_for(self._ok, 30, "cluster_state:ok")
        except BaseException:
            self.stop()  # no node outlives a failed start
            raise
        return self

    def _ok(self) -> bool:
        for node in self.nodes:
            out = subprocess.run(["redis-cli", "-p", str(node.port), "cluster", "info"],
                                 capture_output=True, text=True, timeout=10).stdout
            if "cluster_state:ok" not in out:
                return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class RedisSentinel(_Child):
    """A private Redis master watched by one Sentinel, both on loopback ports."""

    def __init__(self, workdir: Path, master_name: str = "ledger") -> None:
        self.workdir = workdir
        self.master = RedisServer(workdir / "master", free_port())
        self.port = free_port()
        self.master_name = master_name
        self.log_path = workdir / "sentinel.log"

    def start(self) -> RedisSentinel:
        self.master.start()
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.master_name} 2000\n"
        )
        self._spawn([shutil.which("redis-server") or "/usr/bin/redis-server", str(conf), "--sentinel"])
        try:
            self._await(lambda: port_open(self.port), 10, "redis sentinel")
        except RuntimeError:
            self.master.stop()
            raise
        return self

    def stop(self, timeout: float = 8.0) -> None:
        super().stop(timeout)
        self.master.stop(timeout)


class SmtpSink(_Child):
    """Postfix's smtp-sink: accepts and optionally dumps, or refuses RCPT."""

    def __init__(self, workdir: Path, port: int, name: str, dump: bool = False,
                 reject_rcpt: str | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.dump_dir = workdir / name
        self.log_path = workdir / f"{name}.log"
        self.dump = dump
        self.reject_rcpt = reject_rcpt

    def start(self) -> SmtpSink:
        argv = [shutil.which("smtp-sink") or "/usr/sbin/smtp-sink", "-u", "nobody"]
        if self.dump:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.dump_dir, "nobody")
            argv += ["-d", f"{self.dump_dir}/%H%M%S."]
        if self.reject_rcpt:
            argv += ["-f", "RCPT", "-B", self.reject_rcpt]
        argv += [f"127.0.0.1:{self.port}", "100"]
        self._spawn(argv)
        self._await(lambda: port_open(self.port), 10, f"smtp-sink on {self.port}")
        return self

    def messages(self) -> list[Path]:
        return sorted(p for p in self.dump_dir.glob("*") if p.is_file()) if self.dump else []


class MilterProcess(_Child):
    """``sender-ledger milter SIDE`` as a child process on a unix socket."""

    def __init__(self, workdir: Path, side: str, config: Path, secret: str,
                 program: tuple[str, ...] = (), workers: int = 1,
                 inet_port: int | None = None) -> None:
        self.side = side
        self.workers = workers
        self.inet_port = inet_port  # listen on 127.0.0.1:PORT instead of the unix socket
        self.socket_path = workdir / f"{side}.sock"
        self.log_path = workdir / f"milter-{side}.log"
        self.config = config
        self.secret = secret
        # What to run instead of ``python -m ledger`` (a test wraps it to inject a fault).
        self.program = program or (sys.executable, "-m", "ledger")

    @property
    def postfix_socket(self) -> str:
        if self.inet_port:
            return f"inet:127.0.0.1:{self.inet_port}"
        return f"unix:{self.socket_path}"

    @property
    def milter_socket(self) -> str:
        """The socket as pymilter (and tests/milterclient.py) names it."""
        return f"inet:{self.inet_port}@127.0.0.1" if self.inet_port else f"unix:{self.socket_path}"

    def start(self) -> MilterProcess:
        if self.socket_path.exists():
            self.socket_path.unlink()
        env = dict(os.environ, SENDER_LEDGER_SECRET=self.secret)
        logged = len(self.log_text())
        self._spawn([*self.program, "milter", self.side, "--config",
                     str(self.config), "--socket", self.milter_socket,
                     "--workers", str(self.workers)], env=env)

        def listening() -> bool:
            return self.socket_path.exists() if self.inet_port is None else port_open(self.inet_port)

        self._await(lambda: listening() or self.proc.poll() is not None,  # type: ignore[union-attr]
                    20, f"{self.side} milter socket")
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.side} milter exited: {self.log_text()[-2000:]}")
        if self.workers > 1:
            # Ready when the parent and every worker said "listening" (the socket exists earlier).
            self._await(lambda: self.log_text()[logged:].count(" milter listening on ") > self.workers,
                        20, f"{self.side} workers")
        return self

    def worker_pids(self) -> list[int]:
        """The pids of the milter's worker processes (its children); [] with one process."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids: list[int] = []
        # Every thread's list: a child forked by another thread of the parent is listed there.
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            try:
                pids += [int(pid) for pid in children.read_text().split()]
            except OSError:
                continue
        return sorted(set(pids))

    def stop(self, timeout: float = 25.0) -> None:
        # The parent gives its workers 15 s (ledger.milter.runner.STOP_SECONDS) before it kills them.
        super().stop(timeout)


class NoopMilterProcess(_Child):
    """The no-op pymilter (testbed/noop_milter.py) on a unix socket: a benchmark's floor."""

    def __init__(self, workdir: Path) -> None:
        self.socket_path = workdir / "noop.sock"
        self.log_path = workdir / "milter-noop.log"

    @property
    def postfix_socket(self) -> str:
        return f"unix:{self.socket_path}"

    def start(self) -> NoopMilterProcess:
        if self.socket_path.exists():
            self.socket_path.unlink()
        # By path: the test bed is not an installed package, and the cwd may be anywhere.
        self._spawn([sys.executable, str(Path(__file__).with_name("noop_milter.py")),
                     f"unix:{self.socket_path}"])
        self._await(lambda: self.socket_path.exists() or self.proc.poll() is not None,  # type: ignore[union-attr]
                    20, "no-op milter socket")
        return self
