"""Observing on Redis Cluster, for real: the counters riding in a cross-slot record
pipeline, the decision log, and stats / log / purge / export / import over all nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.check import Envelope
from ledger.cli import main
from ledger.config import load_config
from ledger.days import today
from ledger.observe import Observer
from ledger.observe.observer import RECORDED
from ledger.record import SentMessage
from ledger.redis_client import connect
from ledger.services import inspector_for, open_ledger, recorder_for
from testbed import RedisCluster
from tests import messages
from tests.conftest import SECRET

pytestmark = pytest.mark.usefixtures("release_sentinel_clients")


def test_observing_on_redis_cluster(cluster: RedisCluster, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(f'[secret]\nvalue = "{SECRET}"\n[redis]\nurl = "{cluster.url}"\ncluster = true\n')
    cfg = load_config(str(path))
    ledger = open_ledger(cfg)
    for key in ledger.client.scan_iter("sl:*"):
        ledger.client.delete(key)
    observer = Observer.from_config(cfg, ledger.client)
    recorder, inspector = recorder_for(cfg, ledger), inspector_for(cfg, ledger)
    for i in range(30):
        recorder.record(SentMessage("alice@example.test", ["bob@example.com"], f"<cl-{i}@example.test>"))
        observer.recorded(RECORDED, 0.001)
    ledger.record([recorder.hasher.message(f"old-{i}@x", "alice@example.test") for i in range(20)],
                  day=today() - 15)
    envelope = Envelope("", ["alice@example.test"], "mx[192.0.2.1]", "QC1")
    # the forged one bounces from an address alice never wrote to (else the envelope check accepts it)
    for ref, failed in (("<cl-3@example.test>", "bob@example.com"),
                        ("<cl-forged@example.test>", "stranger@example.net")):
        dsn = messages.dsn(messages.original(ref), failed=failed)
        assert observer.decided(envelope, inspector.inspect(envelope, dsn), 0.001)

    def cli(*argv: str) -> str:
        assert main([*argv, "--config", str(path)]) == 0
        return capsys.readouterr().out

    stats = json.loads(cli("stats", "--json", "--days", "1"))
    # 30 messages + their one (alice, bob) pair today, 20 old ones
    assert stats["entries"] == 51 and stats["memory_bytes"] > 0
    # Summed over the three primaries, not one node's INFO.
    one_node = int(connect(cluster.nodes[0].url).info("memory")["used_memory"])
    assert stats["redis_used_memory"] > 2 * one_node
    day = stats["days"][0]
    assert (day["recorded"], day["matched"], day["rejected"]) == (30, 1, 1)
    assert [json.loads(li)["action"] for li in cli("log", "--json").splitlines()] == ["reject", "accept"]
    dump = cli("export")
    assert json.loads(cli("purge", "--older-than", "10", "--json"))["entries"] == 20
    assert json.loads(cli("stats", "--json"))["entries"] == 31
    (tmp_path / "dump.jsonl").write_text(dump)
    assert json.loads(cli("import", str(tmp_path / "dump.jsonl"), "--json"))["added"] == 20
    assert json.loads(cli("import", str(tmp_path / "dump.jsonl"), "--json"))["added"] == 0
    assert json.loads(cli("stats", "--json"))["entries"] == 51
