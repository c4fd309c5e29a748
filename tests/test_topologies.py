"""The same ledger code on Redis Cluster and through Redis Sentinel, for real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.check import Envelope
from ledger.config import Config
from ledger.record import SentMessage
from ledger.services import inspector_for, open_ledger, recorder_for
from testbed import RedisCluster, RedisSentinel
from tests import messages

pytestmark = pytest.mark.usefixtures("release_sentinel_clients")


@pytest.fixture(scope="module")
def sentinel(scratch: Path) -> Iterator[RedisSentinel]:
    servers = RedisSentinel(scratch / "sentinel").start()
    yield servers
    servers.stop()


def flow(cfg: Config) -> None:
    """Record 50 messages (spread over many buckets, so many slots), then decide bounces."""
    ledger = open_ledger(cfg)
    for key in ledger.client.scan_iter("sl:*"):
        ledger.client.delete(key)
    recorder = recorder_for(cfg, ledger)
    inspector = inspector_for(cfg, ledger)
    for i in range(50):
        recorder.record(SentMessage("alice@example.test", ["bob@example.com"], f"<topo-{i}@example.test>"))
    envelope = Envelope("", ["alice@example.test"])
    for i in range(50):
        real = inspector.inspect(envelope, messages.dsn(messages.original(f"<topo-{i}@example.test>")))
        assert real.action == "accept", real.reason
        inspector.count(real)
    forged = inspector.inspect(envelope, messages.dsn(messages.original("<topo-forged@example.test>"),
                                                      failed="stranger@example.net"))
    assert forged.action == "reject"
    match = ledger.find([recorder.entries(SentMessage("alice@example.test", [], "<topo-7@example.test>"))
                         .entries[0]])
    assert [m.matches for m in match.values()] == [1]


def test_ledger_on_redis_cluster(cluster: RedisCluster, config: Config) -> None:
    cfg = replace(config, redis=replace(config.redis, url=cluster.url, cluster=True))
    flow(cfg)
    keys = {k for node in cluster.nodes for k in open_ledger(replace(cfg, redis=replace(
        cfg.redis, url=node.url, cluster=False))).client.keys("sl:*")}
    assert len(keys) > 3  # spread over the nodes, yet every lookup worked


def test_ledger_through_redis_sentinel(sentinel: RedisSentinel, config: Config) -> None:
    cfg = replace(config, redis=replace(config.redis, url="redis://", sentinels=(
        f"127.0.0.1:{sentinel.port}",), sentinel_master=sentinel.master_name))
    flow(cfg)
