"""A whole private mail site: Redis, both milters, smtp-sinks and Postfix.

One place that brings the parts up in order and takes them down in reverse,
for the end-to-end tests, the demo and the throughput benchmark. The ledger is
one private redis-server (``redis``), or with ``sentinels=True`` a private
Sentinel set (``sentinel_set``: master, replica, three sentinels) that the
milters reach through the sentinels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from testbed.postfix import PrivatePostfix
from testbed.procs import MilterProcess, NoopMilterProcess, RedisServer, SmtpSink, free_port
from testbed.sentinel import SentinelSet


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class PrivateSite:
    """Everything a demo or test needs, started by :meth:`start`, stopped by :meth:`stop`.

    ``capture`` keeps every message delivered to the site's own domain,
    ``fail`` refuses every recipient (so Postfix bounces), ``relay`` takes
    everything else (and keeps it when ``keep_relayed``). ``redis_extra``
    adds keys to the config's ``[redis]`` section (``config_extra`` adds
    whole sections after it).
    """

    base: Path
    secret: str
    reject_reply: str = "550 5.1.1 User unknown"
    keep_relayed: bool = True
    baseline_listener: bool = False
    floor_listener: bool = False  # a listener with the no-op milter (testbed/noop_milter.py)
    config_extra: str = ""
    redis_extra: str = ""
    sentinels: bool = False
    workers: int = 1  # worker processes of each milter
    # A postsrsd forward table (testbed/postsrsd.py): Postfix gets a forwarder's listener
    # (PrivatePostfix.forward_port) whose senders it rewrites into SRS addresses.
    srs_table: str = ""
    started: list[_Stoppable] = field(default_factory=list)

    def _add(self, thing: _Stoppable) -> None:
        self.started.append(thing)

    def start(self) -> PrivateSite:
        try:
            if self.sentinels:
                self.sentinel_set = SentinelSet(self.base / "sentinel-set").start()
                self._add(self.sentinel_set)
                redis_section = f'url = "redis://"\n{self.sentinel_set.config()}'
            else:
                self.redis = RedisServer(self.base / "redis").start()
                self._add(self.redis)
                redis_section = f'url = "{self.redis.url}"\n'
            secret_file = self.base / "secret"
            secret_file.write_text(self.secret + "\n")
            secret_file.chmod(0o600)
            self.config = self.base / "sender-ledger.toml"
            self.config.write_text(f'[secret]\nfile = "{secret_file}"\n\n'
                                   f"[redis]\n{redis_section}{self.redis_extra}\n"
                                   f'[outbound]\nmessage_id_domain = "example.test"\n'
                                   f'spool_dir = "{self.base / "spool"}"\n'
                                   f'spool_retry_seconds = 0.2\n\n'
                                   f"{self.config_extra}")
            self.outbound = MilterProcess(self.base, "outbound", self.config, self.secret,
                                          workers=self.workers).start()
            self._add(self.outbound)
            self.inbound = MilterProcess(self.base, "inbound", self.config, self.secret,
                                         workers=self.workers).start()
            self._add(self.inbound)
            floor_milter = ""
            if self.floor_listener:
                noop = NoopMilterProcess(self.base).start()
                self._add(noop)
                floor_milter = noop.postfix_socket
            self.capture = SmtpSink(self.base, free_port(), "capture", dump=True).start()
            self._add(self.capture)
            self.fail = SmtpSink(self.base, free_port(), "fail", reject_rcpt=self.reject_reply).start()
            self._add(self.fail)
            self.relay = SmtpSink(self.base, free_port(), "relay", dump=self.keep_relayed).start()
            self._add(self.relay)
            self.postfix = PrivatePostfix(
                self.base / "postfix",
                mx_port=free_port(),
                submission_port=free_port(),
                plain_port=free_port() if self.baseline_listener else None,
                floor_port=free_port() if self.floor_listener else None,
                floor_milter=floor_milter,
                forward_port=free_port() if self.srs_table else None,
                srs_table=self.srs_table,
                inbound_milter=self.inbound.postfix_socket,
                outbound_milter=self.outbound.postfix_socket,
                capture_port=self.capture.port,
                fail_port=self.fail.port,
                relay_port=self.relay.port,
            ).start()
            self._add(self.postfix)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self.started:
            self.started.pop().stop()
