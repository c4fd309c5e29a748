"""conf/grafana/sender-ledger.json queries only metrics the milters really export.

Both milters run as processes with their metrics endpoints on, see traffic down
every path the dashboard charts (recorded, ordinary, matched, refused, Redis
down: 451 and a spooled record), and are scraped; every metric name in every
query of the dashboard must be among the scraped samples.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

from testbed import MilterProcess, RedisServer, free_port
from tests import messages
from tests.conftest import SECRET, write_config
from tests.milterclient import send_message

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "conf" / "grafana" / "sender-ledger.json"
METRIC = re.compile(r"\bsender_ledger_[a-z_]+\b")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]")


def queries(dashboard: dict[str, object]) -> list[str]:
    """Every PromQL text of the dashboard: panel targets and template variable queries."""
    out = []
    for panel in dashboard["panels"]:  # type: ignore[attr-defined]
        out += [t["expr"] for t in panel["targets"]]
    for var in dashboard["templating"]["list"]:  # type: ignore[index]
        query = var.get("query")
        if isinstance(query, dict):
            out.append(query["query"])
    return out


def scrape(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {m.group(1) for line in text.splitlines() if (m := SAMPLE.match(line))}


def send(milter: MilterProcess, raw: bytes, sender: str, rcpts: list[str]) -> str:
    headers, body = messages.split(raw)
    return str(send_message(str(milter.socket_path), sender, rcpts, headers, body).code)


def test_the_dashboard_queries_only_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    wanted = {name for q in queries(dashboard) for name in METRIC.findall(q)}
    # the families the dashboard is for: decisions by kind and cause, latency, Redis errors, spool
    assert {"sender_ledger_decisions_total", "sender_ledger_causes_total",
            "sender_ledger_decision_seconds_bucket", "sender_ledger_redis_errors_total",
            "sender_ledger_spool_records", "sender_ledger_would_reject_total"} <= wanted

    redis_server = RedisServer(tmp_path / "redis").start()  # our own: it is stopped half way
    in_port, out_port = free_port(), free_port()
    config = write_config(tmp_path / "sender-ledger.toml", redis_server.url,
                          f'[inbound]\nunmatched_action = "tag"\n\n'
                          f'[metrics]\ninbound_listen = "127.0.0.1:{in_port}"\n'
                          f'outbound_listen = "127.0.0.1:{out_port}"\n')
    outbound = MilterProcess(tmp_path, "outbound", config, SECRET).start()
    inbound = MilterProcess(tmp_path, "inbound", config, SECRET).start()
    try:
        assert send(outbound, messages.original(), "alice@example.test", ["bob@example.com"]) == "accept"
        send(inbound, messages.ordinary(), "carol@example.com", ["alice@example.test"])
        assert send(inbound, messages.dsn(messages.original()), "", ["alice@example.test"]) == "accept"
        forged = messages.dsn(messages.original(message_id="<forged-9@example.test>"),
                              failed="stranger@example.net")
        assert send(inbound, forged, "", ["alice@example.test"]) == "accept"  # tagged: a trial
        redis_server.stop()
        assert send(inbound, messages.dsn(messages.original()), "", ["alice@example.test"]) == "tempfail"
        send(outbound, messages.original(message_id="<late-1@example.test>"), "alice@example.test",
             ["bob@example.com"])  # spooled
        exported = scrape(in_port) | scrape(out_port)
    finally:
        inbound.stop()
        outbound.stop()
        redis_server.stop()
    missing = sorted(wanted - exported)
    assert not missing, f"the dashboard queries metrics no milter exports: {missing}"


def test_the_dashboard_file_is_what_the_script_writes() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_dashboard
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert json.loads(DASHBOARD.read_text()) == make_dashboard.dashboard()
