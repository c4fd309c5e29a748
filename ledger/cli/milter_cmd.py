"""``sender-ledger milter outbound|inbound``: run a milter."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ledger.cli.common import config_from, subcommand


def register(sub: Any) -> None:
    parser = subcommand(sub, "milter", "run the outbound (recording) or inbound (checking) milter")
    parser.add_argument("side", choices=("outbound", "inbound"))
    parser.add_argument("--socket", help="unix:PATH or inet:PORT@HOST (default: from the config)")
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds the MTA may wait for us (default 60)")
    parser.add_argument("--metrics-listen", metavar="HOST:PORT",
                        help="serve Prometheus metrics here (default: metrics.<side>_listen; "
                        "'' turns them off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger import services
    from ledger.milter import runner
    from ledger.observe import Observer
    from ledger.observe.metrics import metrics_for

    cfg = config_from(args)
    ledger = services.open_ledger(cfg)
    listen = getattr(cfg.metrics, f"{args.side}_listen")
    key = f"metrics.{args.side}_listen"
    if args.metrics_listen is not None:
        listen, key = args.metrics_listen, "--metrics-listen"
    metrics = metrics_for(listen, key)
    if metrics is not None:
        logging.getLogger("sender-ledger.milter").info("metrics on http://%s/metrics", listen)
    observer = Observer.from_config(cfg, ledger.client, metrics)
    if args.side == "outbound":
        from ledger.milter.outbound import OutboundMilter

        OutboundMilter.recorder = services.recorder_for(cfg, ledger)
        OutboundMilter.observer = observer
        OutboundMilter.message_id_domain = cfg.outbound.message_id_domain or _hostname()
        runner.run("outbound", OutboundMilter, args.socket or cfg.outbound.socket, args.timeout)
    else:
        from ledger.milter.inbound import InboundMilter

        InboundMilter.inspector = services.inspector_for(cfg, ledger)
        InboundMilter.observer = observer
        InboundMilter.trace_header = cfg.inbound.trace_header
        runner.run("inbound", InboundMilter, args.socket or cfg.inbound.socket, args.timeout)
    return 0


def _hostname() -> str:
    import socket

    return socket.getfqdn()
