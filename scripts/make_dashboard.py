"""Write conf/grafana/sender-ledger.json, the Grafana dashboard of the milters' Prometheus metrics.

Run ``.venv/bin/python scripts/make_dashboard.py`` after a metric changes in
ledger/observe/metrics.py; tests/test_grafana.py checks that every metric the
dashboard queries is exported by the running milters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "conf" / "grafana" / "sender-ledger.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RANGE = "[$__rate_interval]"
NOT_ORDINARY = 'kind!="ordinary"'
ORDINARY = 'kind="ordinary"'
# A metric every milter exports from its start (an unlabelled histogram): the instance list.
ALWAYS = "sender_ledger_record_seconds_count"


def series(name: str, extra: str = "") -> str:
    return name + '{instance=~"$instance"' + ("," + extra if extra else "") + "}"


def rate(name: str, extra: str = "") -> str:
    return f"rate({series(name, extra)}{RANGE})"


def quantile(q: str, name: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}) ({rate(name)}))"


def panel(pid: int, title: str, exprs: list[tuple[str, str]], pos: tuple[int, int, int, int],
          unit: str = "short", kind: str = "timeseries", desc: str = "") -> dict[str, Any]:
    x, y, w, h = pos
    options: dict[str, Any] = (
        {"legend": {"displayMode": "table", "placement": "right", "showLegend": True},
         "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
         "colorMode": "value", "graphMode": "area", "textMode": "auto"})
    return {"id": pid, "type": kind, "title": title, "description": desc, "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": options,
            "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend}
                        for i, (e, legend) in enumerate(exprs)]}


def panels() -> list[dict[str, Any]]:
    return [
        panel(1, "Candidate decisions by kind and action (per second)",
              [(f"sum by (kind, action) ({rate('sender_ledger_decisions_total', NOT_ORDINARY)})",
                "{{kind}} {{action}}")], (0, 0, 12, 8),
              desc="Backscatter candidates the inbound milter decided; ordinary mail has its own panel."),
        panel(2, "Candidate decisions by cause (per second)",
              [(f"sum by (cause) ({rate('sender_ledger_causes_total')})", "{{cause}}")], (12, 0, 12, 8),
              desc="The fixed set of causes of docs/policy.md; unreachable, internal error, catching up "
                   "and check unfinished are our own side's."),
        panel(3, "Would be refused in reject mode, by kind (per second)",
              [(f"sum by (kind) ({rate('sender_ledger_would_reject_total')})", "{{kind}}")], (0, 8, 12, 8),
              desc='In a tag trial (unmatched_action = "tag"): what reject mode would answer 550. '
                   "sender-ledger report has the details and the verdict."),
        panel(4, "Ordinary mail accepted (per second)",
              [(f"sum({rate('sender_ledger_decisions_total', ORDINARY)})", "ordinary")], (12, 8, 12, 8)),
        panel(5, "Decision latency (p50, p99)",
              [(quantile("0.5", "sender_ledger_decision_seconds_bucket", "le, path"), "p50 {{path}}"),
               (quantile("0.99", "sender_ledger_decision_seconds_bucket", "le, path"), "p99 {{path}}")],
              (0, 16, 12, 8), unit="s",
              desc="path ordinary: header screening only; candidate: the full check with its Redis lookup."),
        panel(6, "Record latency (p50, p99, mean)",
              [(quantile("0.5", "sender_ledger_record_seconds_bucket", "le"), "p50"),
               (quantile("0.99", "sender_ledger_record_seconds_bucket", "le"), "p99"),
               (f"sum({rate('sender_ledger_record_seconds_sum')}) / "
                f"sum({rate('sender_ledger_record_seconds_count')})", "mean")], (12, 16, 12, 8), unit="s"),
        panel(7, "Redis errors by operation (per second)",
              [(f"sum by (operation) ({rate('sender_ledger_redis_errors_total')})", "{{operation}}")],
              (0, 24, 12, 8),
              desc="lookup: a bounce answered 451 (or accepted, if so configured); record: a sent message "
                   "spooled or lost; observe: bookkeeping kept for later."),
        panel(8, "Outbound records by result (per second)",
              [(f"sum by (result) ({rate('sender_ledger_records_total')})", "{{result}}")], (12, 24, 12, 8),
              desc="failed: lost, neither the ledger nor the spool took it: its bounces will be refused."),
        panel(9, "Spool: records waiting", [(series("sender_ledger_spool_records"), "{{instance}}")],
              (0, 32, 8, 6), kind="stat"),
        panel(10, "Spool: size", [(series("sender_ledger_spool_bytes"), "{{instance}}")],
              (8, 32, 8, 6), unit="bytes", kind="stat"),
        panel(11, "Spool: oldest record", [(series("sender_ledger_spool_oldest_seconds"), "{{instance}}")],
              (16, 32, 8, 6), unit="s", kind="stat"),
    ]


def dashboard() -> dict[str, Any]:
    instances = f"label_values({ALWAYS}, instance)"
    return {
        "title": "sender-ledger",
        "uid": "sender-ledger",
        "description": "The Prometheus metrics of the sender-ledger milters (ledger/observe/metrics.py). "
                       "Set [metrics] inbound_listen and outbound_listen, and scrape both.",
        "tags": ["mail", "backscatter", "sender-ledger"],
        "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True, "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "instance", "label": "milter", "type": "query", "datasource": DS,
             "query": {"query": instances, "refId": "instances"}, "definition": instances,
             "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": panels(),
    }


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
