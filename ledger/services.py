"""Build the working objects (Redis client, ledger, hasher...) from a Config."""

from __future__ import annotations

from ledger.config import Config
from ledger.hashing import Hasher
from ledger.record import Recorder
from ledger.redis_client import client_for
from ledger.spool import Spool
from ledger.srs import SrsChecker
from ledger.store import Ledger
from ledger.verdict import Inspector, Later, limits_from, policy_from


def open_ledger(cfg: Config) -> Ledger:
    """The ledger on the configured topology; on Sentinel it follows the named master."""
    client = client_for(cfg.redis)
    return Ledger(client, cfg.redis.namespace, cfg.ledger.lifetime_days, cfg.ledger.bucket_bits,
                  cfg.redis.wait_replicas, cfg.redis.wait_timeout_ms)


def hasher_for(cfg: Config) -> Hasher:
    return Hasher(cfg.secret, cfg.ledger.bucket_bits)


def spool_for(cfg: Config) -> Spool:
    """This host's outbound spool (the directory is made on the first record it keeps)."""
    return Spool(cfg.outbound.spool_dir, cfg.outbound.spool_max_bytes)


def recorder_for(cfg: Config, ledger: Ledger | None = None, spool: Spool | None = None) -> Recorder:
    """A recorder; with ``spool`` (the milter's) records the ledger refuses are kept, not lost."""
    return Recorder(ledger or open_ledger(cfg), hasher_for(cfg), spool)


def inspector_for(cfg: Config, ledger: Ledger | None = None, spool: Spool | None = None,
                  later: Later | None = None) -> Inspector:
    """The inbound check; ``spool`` and ``later`` as for :class:`ledger.verdict.Inspector`."""
    return Inspector(ledger or open_ledger(cfg), hasher_for(cfg), policy_from(cfg), cfg.inbound.max_bytes,
                     limits_from(cfg), cfg.inbound.scan_bytes, spool=spool, later=later,
                     srs=srs_checker_for(cfg))


def srs_checker_for(cfg: Config) -> SrsChecker | None:
    """The SRS check of ``[srs]``; None while no SRS secret is configured (SRS off)."""
    if not cfg.srs_secrets:
        return None
    return SrsChecker(cfg.srs_secrets, cfg.srs.max_age_days, cfg.srs.hash_length, cfg.srs.hash_min)
