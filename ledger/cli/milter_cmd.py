"""``sender-ledger milter outbound|inbound``: run a milter."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING, Any

from ledger.cli.common import config_from, subcommand

if TYPE_CHECKING:
    from ledger.config import Config
    from ledger.observe import Observer
    from ledger.spool import Spool
    from ledger.store import Ledger


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
    # Bookkeeping (decision log, counters) runs in the background: no answer waits for it.
    observer = Observer.from_config(cfg, ledger.client, metrics, background=True)
    spool = services.spool_for(cfg)
    if metrics is not None:
        metrics.watch_spool(spool)
    try:
        if args.side == "outbound":
            _run_outbound(args, cfg, ledger, observer, spool)
        else:
            from ledger.milter.inbound import InboundMilter

            # The spool is only read here: a refusal waits (451) while records of ours wait in it.
            InboundMilter.inspector = services.inspector_for(cfg, ledger, spool, later=observer.later)
            InboundMilter.observer = observer
            InboundMilter.trace_header = cfg.inbound.trace_header
            runner.run("inbound", InboundMilter, args.socket or cfg.inbound.socket, args.timeout)
    finally:
        observer.close()
    return 0


def _run_outbound(args: argparse.Namespace, cfg: Config, ledger: Ledger, observer: Observer,
                  spool: Spool) -> None:
    from ledger import services
    from ledger.drain import Drainer, DrainResult
    from ledger.milter import runner
    from ledger.milter.outbound import OutboundMilter

    _check_spool(spool)

    def replayed(result: DrainResult) -> None:
        observer.replayed(dict(result.new_by_day), result.replayed)

    drainer = Drainer(spool, ledger, cfg.outbound.spool_retry_seconds, on_result=replayed).start()
    OutboundMilter.recorder = services.recorder_for(cfg, ledger, spool)
    OutboundMilter.observer = observer
    OutboundMilter.on_spooled = drainer.wake
    OutboundMilter.message_id_domain = cfg.outbound.message_id_domain or _hostname()
    try:
        runner.run("outbound", OutboundMilter, args.socket or cfg.outbound.socket, args.timeout)
    finally:
        drainer.stop()
        spool.close()


def _check_spool(spool: Spool) -> None:
    """Say at start-up, not in the middle of an outage, that the spool cannot be written."""
    log = logging.getLogger("sender-ledger.spool")
    try:
        spool.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        if not os.access(spool.directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{spool.directory} is not writable")
    except OSError as exc:
        log.error("spool %s is not usable (%s): records the ledger cannot take will be LOST",
                  spool.directory, exc)
        return
    status = spool.status()
    if status.records:
        log.warning("spool %s holds %d record(s) from before: replaying them when Redis answers",
                    spool.directory, status.records)


def _hostname() -> str:
    import socket

    return socket.getfqdn()
