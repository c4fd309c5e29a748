"""``sender-ledger milter outbound|inbound``: run a milter."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ledger.cli.common import config_from, subcommand

if TYPE_CHECKING:
    import Milter

    from ledger.config import Config
    from ledger.observe import Observer
    from ledger.spool import Spool
    from ledger.store import Ledger


# How long bookkeeping waits for a ride before the bookkeeper's thread writes it itself.
LINGER = 0.25


def register(sub: Any) -> None:
    parser = subcommand(sub, "milter", "run the outbound (recording) or inbound (checking) milter")
    parser.add_argument("side", choices=("outbound", "inbound"))
    parser.add_argument("--socket", help="unix:PATH or inet:PORT@HOST (default: from the config)")
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds the MTA may wait for us (default 60)")
    parser.add_argument("--workers", metavar="N|auto",
                        help="worker processes on the socket (default: <side>.workers)")
    parser.add_argument("--metrics-listen", metavar="HOST:PORT",
                        help="serve Prometheus metrics here (default: metrics.<side>_listen; "
                        "'' turns them off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger.config import ConfigError, parse_listen, parse_workers
    from ledger.milter import runner

    cfg = config_from(args)
    side_cfg = cfg.outbound if args.side == "outbound" else cfg.inbound
    listen = getattr(cfg.metrics, f"{args.side}_listen")
    key = f"metrics.{args.side}_listen"
    if args.metrics_listen is not None:
        listen, key = args.metrics_listen, "--metrics-listen"
    if listen and parse_listen(listen) is None:  # said before the socket is made, not after
        raise ConfigError(f"metrics listen address: expected HOST:PORT, got {listen!r} ({key})")
    workers = side_cfg.workers
    if args.workers is not None:
        value = args.workers if args.workers == "auto" else _int_or(args.workers)
        workers = parse_workers("--workers", value)
    if workers > 1 and listen:
        # One endpoint per process would show one worker's figures as the milter's.
        raise ConfigError(f"{key} needs {args.side}.workers = 1 (it is {workers}): "
                          f"each worker would serve its own metrics")
    if args.side == "outbound":
        from ledger import services

        _check_spool(services.spool_for(cfg))  # once, in the parent: not once per worker
    setup = _outbound if args.side == "outbound" else _inbound
    return runner.run(args.side, lambda: setup(cfg, listen, key),
                      args.socket or side_cfg.socket, args.timeout, workers)


@contextlib.contextmanager
def _observed(cfg: Config, listen: str, key: str) -> Iterator[tuple[Ledger, Observer, Spool]]:
    """One process's ledger connection, metrics, observer (with its bookkeeper thread) and spool.

    Runs in each worker after the fork: threads and connections never cross one.
    """
    from ledger import services
    from ledger.observe import Observer
    from ledger.observe.metrics import metrics_for

    ledger = services.open_ledger(cfg)
    metrics = metrics_for(listen, key)
    if metrics is not None:
        logging.getLogger("sender-ledger.milter").info("metrics on http://%s/metrics", listen)
    # Bookkeeping (decision log, counters) rides on the next message's round trip, or the
    # background thread writes what waited LINGER seconds: no answer waits for it.
    observer = Observer.from_config(cfg, ledger.client, metrics, background=True, linger=LINGER)
    spool = services.spool_for(cfg)
    if metrics is not None:
        metrics.watch_spool(spool)
    try:
        yield ledger, observer, spool
    finally:
        observer.close()


@contextlib.contextmanager
def _inbound(cfg: Config, listen: str, key: str) -> Iterator[Callable[[], Milter.Base]]:
    from ledger import services
    from ledger.milter.inbound import make_inbound

    with _observed(cfg, listen, key) as (ledger, observer, spool):
        # The spool is only read here: a refusal waits (451) while records of ours wait in it.
        inspector = services.inspector_for(cfg, ledger, spool, later=observer.later)
        yield make_inbound(inspector, observer, cfg.inbound.trace_header)


@contextlib.contextmanager
def _outbound(cfg: Config, listen: str, key: str) -> Iterator[Callable[[], Milter.Base]]:
    from ledger import services
    from ledger.drain import Drainer, DrainResult
    from ledger.milter.outbound import make_outbound

    with _observed(cfg, listen, key) as (ledger, observer, spool):

        def replayed(result: DrainResult) -> None:
            observer.replayed(dict(result.new_by_day), result.replayed)

        # Each worker drains too: claims on segments are exclusive (flock), so that is safe.
        drainer = Drainer(spool, ledger, cfg.outbound.spool_retry_seconds, on_result=replayed).start()
        try:
            yield make_outbound(services.recorder_for(cfg, ledger, spool), observer,
                                cfg.outbound.message_id_domain or _hostname(), drainer.wake)
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


def _int_or(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _hostname() -> str:
    import socket

    return socket.getfqdn()
