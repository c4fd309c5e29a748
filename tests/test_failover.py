"""Fail-over and restarts of a real Redis: what counts as written, and who follows the master.

A private Sentinel set (one master, one replica, three sentinels) and plain
redis-servers, started here; no Postfix (tests/test_end_to_end_failover.py
runs the same through it). Each test starts from a settled set: every
sentinel names one master and the other node replicates it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from ledger.config import Config
from ledger.days import today
from ledger.errors import LedgerUnavailable
from ledger.hashing import Hasher
from ledger.observe import dump
from ledger.record import SentMessage
from ledger.redis_client import connect
from ledger.services import open_ledger, recorder_for
from ledger.store import Ledger
from testbed import RedisServer, SentinelSet, free_port
from testbed.procs import wait_for
from testbed.sentinel import SentinelProcess
from tests.conftest import SECRET, write_config

pytestmark = pytest.mark.usefixtures("release_sentinel_clients")

HASHER = Hasher(b"k" * 32, 6)


@pytest.fixture(scope="module")
def sentinel_set(scratch: Path) -> Iterator[SentinelSet]:
    servers = SentinelSet(scratch / "failover-set").start()
    yield servers
    servers.stop()


def sentinel_config(config: Config, servers: SentinelSet, **redis_keys: object) -> Config:
    return replace(config, redis=replace(config.redis, url="redis://", sentinels=tuple(servers.addresses),
                                         sentinel_master=servers.master_name, **redis_keys))


def direct(server: RedisServer) -> redis.Redis:
    return connect(server.url)


def on(server: RedisServer, ledger: Ledger, sent: SentMessage, cfg: Config) -> bool:
    """Is the message's entry stored on this very node (not via the sentinels)?"""
    entry = recorder_for(cfg, ledger).entries(sent).entries[0]
    return bool(direct(server).hexists(ledger.key(entry.bucket, today()), entry.field))


def test_a_record_no_replica_confirms_raises_ledger_unavailable(redis_server: RedisServer,
                                                                 redis_client: redis.Redis) -> None:
    lonely = Ledger(redis_client, wait_replicas=1, wait_timeout_ms=50)  # this Redis has no replica
    entry = HASHER.message("wait@example.test", "alice@example.test")
    with pytest.raises(LedgerUnavailable, match="not confirmed on 1 replicas"):
        lonely.record([entry])
    assert Ledger(redis_client).record([entry]) == 0  # the write itself happened: HSETNX, idempotent


def test_an_import_no_replica_confirms_raises_ledger_unavailable(redis_client: redis.Redis) -> None:
    source = Ledger(redis_client)
    source.record([HASHER.message(f"imp-{i}@example.test", "alice@example.test") for i in range(5)])
    lines = list(dump.export_lines(source, HASHER))
    redis_client.flushall()
    lonely = Ledger(redis_client, wait_replicas=1, wait_timeout_ms=50)
    with pytest.raises(LedgerUnavailable, match="not confirmed on 1 replicas"):
        dump.import_entries(lonely, dump.read_entries(lines, HASHER, "export"))


def test_a_master_with_min_replicas_to_write_refuses_and_the_record_says_so(tmp_path: Path) -> None:
    """conf/redis-ledger.conf's commented guard for Sentinel sets, on a master left alone."""
    server = RedisServer(tmp_path / "guarded", extra=("--min-replicas-to-write", "1")).start()
    try:
        with pytest.raises(LedgerUnavailable, match="NOREPLICAS"):
            Ledger(connect(server.url)).record([HASHER.message("g@example.test", "alice@example.test")])
    finally:
        server.stop()


def test_records_reported_written_survive_a_planned_switchover(sentinel_set: SentinelSet,
                                                               config: Config) -> None:
    """SENTINEL FAILOVER while recording: the old master stays writable for seconds after the
    replica is promoted; whatever record() reported written must be on the new master."""
    sentinel_set.wait_settled()
    cfg = sentinel_config(config, sentinel_set, wait_replicas=1, wait_timeout_ms=100)
    recorder = recorder_for(cfg, open_ledger(cfg))
    written: list[SentMessage] = []
    refused: list[SentMessage] = []
    stop = threading.Event()

    def send() -> None:
        i = 0
        while not stop.is_set():
            sent = SentMessage("alice@example.test", ["bob@example.com"], f"<switch-{i}@example.test>")
            i += 1
            try:
                recorder.record(sent)
                written.append(sent)
            except LedgerUnavailable:
                refused.append(sent)  # the outbound milter would spool these
            time.sleep(0.002)

    worker = threading.Thread(target=send)
    worker.start()
    try:
        time.sleep(0.5)
        old = sentinel_set.failover()
        new = sentinel_set.wait_new_master(old)
        time.sleep(2.0)  # and go on writing while the old master is still a writable master
    finally:
        stop.set()
        worker.join(10)
    sentinel_set.wait_settled()  # the old master is demoted and resynced: its own writes are gone
    assert len(written) > 100
    check = open_ledger(replace(cfg, redis=replace(cfg.redis, wait_replicas=0)))
    entries = {recorder.entries(s).entries[0]: s for s in written}
    found = check.find(list(entries))
    lost = [entries[e].message_id for e in entries if e not in found]
    assert lost == [], f"{len(lost)} of {len(written)} records reported written were lost"
    assert sentinel_set.named_master() is new


def test_a_pooled_client_follows_the_switch_before_the_old_master_is_demoted(
        sentinel_set: SentinelSet, config: Config) -> None:
    """redis-py resolves the master only when it opens a connection: a pooled connection
    went on writing to the old master (still writable for about 10 s) until it broke."""
    sentinel_set.wait_settled()
    cfg = sentinel_config(config, sentinel_set)
    ledger = open_ledger(cfg)
    recorder = recorder_for(cfg, ledger)
    before = SentMessage("alice@example.test", [], "<before-switch@example.test>")
    recorder.record(before)  # opens and pools a connection to the current master
    old = sentinel_set.failover()
    new = sentinel_set.wait_new_master(old)
    time.sleep(1.5)  # the watcher's +switch-master, or its next poll
    after = SentMessage("alice@example.test", [], "<after-switch@example.test>")
    recorder.record(after)
    assert direct(old).info("replication")["role"] == "master", "too late: old master already demoted"
    assert on(new, ledger, after, cfg), "the record went to the replaced master"
    assert not on(old, ledger, after, cfg)
    watch = ledger.client.sentinel_watch  # type: ignore[attr-defined]
    wait_for(lambda: watch.switches >= 1, 15, "the watcher to hear +switch-master")


def test_a_sentinel_that_missed_the_fail_over_is_not_trusted(sentinel_set: SentinelSet, config: Config,
                                                             tmp_path: Path) -> None:
    """A sentinel cut off from the others still names the master they replaced, writable,
    with an older configuration epoch. Listed first, redis-py took its word (and the CLI
    wrote there too); the newest epoch must win."""
    new = sentinel_set.named_master()
    if sentinel_set.config_epoch() == 0:  # no fail-over yet (this test alone): make one
        sentinel_set.wait_settled()
        new = sentinel_set.wait_new_master(sentinel_set.failover())
    assert new is not None
    # Stand-in for the stale sentinel: one that never heard of this set's fail-overs and
    # names a writable "master" of its own (epoch 0).
    stale_master = RedisServer(tmp_path / "stale-master", free_port()).start()
    stale = SentinelProcess(tmp_path / "stale-sentinel", sentinel_set.master_name, stale_master.port,
                            quorum=1, down_after_ms=1000, failover_timeout_ms=6000).start()
    try:
        servers = [f"127.0.0.1:{stale.port}", *sentinel_set.addresses]
        cfg = replace(config, redis=replace(config.redis, url="redis://", sentinels=tuple(servers),
                                            sentinel_master=sentinel_set.master_name))
        ledger = open_ledger(cfg)
        sent = SentMessage("alice@example.test", [], "<after-stale@example.test>")
        recorder_for(cfg, ledger).record(sent)
        assert on(new, ledger, sent, cfg)
        assert direct(stale_master).dbsize() == 0
        # The command line resolves the same way.
        listed = ", ".join(f'"{s}"' for s in servers)
        config_file = write_config(tmp_path / "cli.toml", "redis://", extra="")
        config_file.write_text(config_file.read_text().replace(
            '[redis]\nurl = "redis://"\n',
            f'[redis]\nurl = "redis://"\nsentinels = [{listed}]\n'
            f'sentinel_master = "{sentinel_set.master_name}"\n'))
        out = subprocess.run([sys.executable, "-m", "ledger", "lookup", "<after-stale@example.test>",
                              "--sender", "alice@example.test", "--json", "--config", str(config_file)],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, SENDER_LEDGER_SECRET=SECRET))
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)["found"] is True
    finally:
        stale.stop()
        stale_master.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_entries_and_lookup_code_survive_a_restart_with_aof(tmp_path: Path, how: str) -> None:
    """A Redis with appendonly: entries and the lookup function come back after a
    restart (SIGTERM or SIGKILL), and the first lookup on the old client works."""
    server = RedisServer(tmp_path / "aof", appendonly=True).start()
    try:
        ledger = Ledger(connect(server.url))
        entries = [HASHER.message(f"aof-{i}@example.test", "alice@example.test") for i in range(20)]
        ledger.record(entries)
        assert len(ledger.find(entries)) == 20  # loads sender_ledger_find_v1
        server.kill() if how == "kill" else server.stop()
        server.start()
        libraries = direct(server).function_list()  # RESP2: flat name/value lists
        assert [lib[lib.index(b"library_name") + 1] for lib in libraries] == [b"sender_ledger"]
        assert len(ledger.find(entries)) == 20  # same client, same pooled (now dead) connection
        direct(server).function_flush()  # a restart that lost the code: it reloads itself
        assert len(ledger.find(entries)) == 20
    finally:
        server.stop()


def test_the_watch_outlives_the_sentinel_it_listens_to(sentinel_set: SentinelSet, config: Config) -> None:
    """The watcher subscribes to the first sentinel listed; when that one dies it moves on,
    and a switchover ordered through another sentinel is still followed."""
    sentinel_set.wait_settled()
    cfg = sentinel_config(config, sentinel_set)
    ledger = open_ledger(cfg)
    recorder = recorder_for(cfg, ledger)
    recorder.record(SentMessage("alice@example.test", [], "<before-sentinel-death@example.test>"))
    first = sentinel_set.sentinels[0]
    first.stop()
    try:
        old = sentinel_set.named_master(sentinel_set.sentinels[1])
        assert old is not None
        sentinel_set.order_failover(sentinel_set.sentinels[1])
        new = None
        deadline = time.monotonic() + 30
        while new in (None, old) and time.monotonic() < deadline:
            new = sentinel_set.named_master(sentinel_set.sentinels[1])
            time.sleep(0.1)
        assert new is not None and new is not old
        watch = ledger.client.sentinel_watch  # type: ignore[attr-defined]
        wait_for(lambda: watch.switches >= 1, 15, "the watcher to hear +switch-master elsewhere")
        after = SentMessage("alice@example.test", [], "<after-sentinel-death@example.test>")
        recorder.record(after)
        assert on(new, ledger, after, cfg)
    finally:
        first.start()
