"""Prometheus metrics of one milter process, served on an optional HTTP port.

Off unless ``metrics.inbound_listen`` / ``metrics.outbound_listen`` is set;
``prometheus_client`` is then needed (``pip install 'sender-ledger[metrics]'``).
Everything here is in-process memory: counting an ordinary message costs a
few hundred nanoseconds and no Redis call.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ledger.config import ConfigError, parse_listen
from ledger.spool import Spool

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0)
MISSING = ("is set but the Python package prometheus_client is not installed: "
           "pip install 'sender-ledger[metrics]' (or prometheus_client), or leave it empty")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per scrape, none outliving the process."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a scrape every few seconds would drown the milter's log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Metrics:
    """The metric families, in a registry of their own (one per milter process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "sender_ledger_decisions", "Inbound decisions by kind (ordinary: not a candidate) and action",
            ["kind", "action"], registry=self.registry)
        self.causes = Counter(
            "sender_ledger_causes", "Candidate decisions by cause (the fixed set of docs/policy.md)",
            ["cause"], registry=self.registry)
        self.would_reject = Counter(
            "sender_ledger_would_reject",
            "Candidates that reject mode answers 550, by kind (in a tag trial: what would have been "
            "refused)", ["kind"], registry=self.registry)
        self.decision_seconds = Histogram(
            "sender_ledger_decision_seconds",
            "Time to decide a message: header screening (ordinary) or the full check (candidate)",
            ["path"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.redis_errors = Counter(
            "sender_ledger_redis_errors", "Redis errors by operation (lookup, record, observe)",
            ["operation"], registry=self.registry)
        self.records = Counter(
            "sender_ledger_records",
            "Outbound messages: recorded, skipped (nothing to record), spooled (kept for a replay), "
            "failed (lost: neither the ledger nor the spool took it), error",
            ["result"], registry=self.registry)
        self.record_seconds = Histogram(
            "sender_ledger_record_seconds", "Time to record one outbound message",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.server: Any = None

    def watch_spool(self, spool: Spool) -> None:
        """Export the outbound spool's depth, size and age, read at each scrape."""
        self.registry.register(_SpoolCollector(spool))

    def serve(self, listen: str) -> tuple[str, int]:
        """Serve ``/metrics`` on HOST:PORT in a daemon thread; returns the bound address.

        The server is our own (prometheus_client's WSGI app in a threading wsgiref server),
        not ``start_http_server``: before prometheus_client 0.17 (Debian 12 ships 0.16) that
        returns nothing, so the port bound for ``:0`` is unknown and the server cannot be closed.
        """
        from prometheus_client import make_wsgi_app

        parsed = parse_listen(listen)
        if parsed is None:
            raise ConfigError(f"metrics listen address: expected HOST:PORT, got {listen!r}")
        host, port = parsed
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("MetricsServer", (_ThreadingWSGIServer,), {"address_family": family})
            self.server = make_server(host, port, make_wsgi_app(self.registry), server_class,
                                      handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"metrics: cannot listen on {listen}: {exc.strerror}") from None
        threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True).start()
        bound = self.server.server_address
        return str(bound[0]), int(bound[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def text(self) -> str:
        """The exposition text, as a scrape would see it."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


class _SpoolCollector:
    """Gauges read from the spool directory when Prometheus scrapes (cheap: cached counts)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def describe(self) -> list[Any]:
        return []  # no fixed description: collect() is only called at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        status = self.spool.status()
        yield GaugeMetricFamily("sender_ledger_spool_records",
                                "Outbound records waiting in the spool for the ledger", value=status.records)
        yield GaugeMetricFamily("sender_ledger_spool_bytes", "Size of the outbound spool",
                                value=status.bytes)
        yield GaugeMetricFamily("sender_ledger_spool_oldest_seconds",
                                "Age of the oldest record in the spool (0 when empty)",
                                value=status.age())


def metrics_for(listen: str, key: str) -> Metrics | None:
    """Metrics served on ``listen``, or None when it is empty (metrics off).

    ``key`` names the setting in the one-line error when prometheus_client is missing.
    """
    if not listen:
        return None
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigError(f"{key} {MISSING}") from None
    metrics = Metrics()
    metrics.serve(listen)
    return metrics
