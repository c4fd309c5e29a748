"""The same ledger code on Redis Cluster and through Redis Sentinel, for real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.check import Envelope
from ledger.config import Config
from ledger.observe import Observer
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
        real = inspector.inspect(envelope, messages.dsn(messages.original(f"<topo-{i}@example.test>")),
                                 claim=True)
        assert real.action == "accept", real.reason
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


def test_lookup_and_claim_across_buckets_in_one_pipeline_on_redis_cluster(
        cluster: RedisCluster, config: Config) -> None:
    """The milter's round trip on Cluster: one function call per bucket (each its own slot), the
    claims taken in each, nothing of the bookkeeping riding along (its slot is another node)."""
    cfg = replace(config, redis=replace(config.redis, url=cluster.url, cluster=True))
    ledger = open_ledger(cfg)
    for key in ledger.client.scan_iter("sl:*"):
        ledger.client.delete(key)
    recorder = recorder_for(cfg, ledger)
    # Sent by alice with carol in From: one entry per sender address, in two buckets.
    sent = SentMessage("alice@example.test", ["bob@example.com"], "<cl-claim@example.test>",
                       from_header="carol@example.test")
    entries = recorder.record(sent).entries
    assert len({e.bucket for e in entries}) == 2
    inspector = inspector_for(cfg, ledger)
    both = Envelope("", ["alice@example.test", "carol@example.test"])
    real = inspector.inspect(both, messages.dsn(messages.original("<cl-claim@example.test>")), claim=True)
    assert real.action == "accept" and real.matched, real.reason
    assert sorted(m.matches for m in ledger.find(list(entries)).values()) == [1, 1]
    forged = inspector.inspect(both, messages.dsn(messages.original("<cl-none@example.test>"),
                                                  failed="stranger@example.net"), claim=True)
    assert forged.action == "reject"
    observer = Observer.from_config(cfg, ledger.client, background=True)
    try:
        trip = inspector.trip()
        assert not trip.single_node
        observer.decided(both, forged, 0.001)
        assert observer.ride(trip) == 0  # the bookkeeper writes it on its own round trip
        assert observer.flush()
    finally:
        observer.close()
