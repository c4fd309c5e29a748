"""Doctor: is this installation set up right? Config, secret, Redis, milter sockets.

Each check is a :class:`Check` (OK / WARN / FAIL with a reason). FAIL means
sender-ledger will not work, or will lose or mis-file mail, as configured;
WARN means it works but something is off. The Postfix side is in
:mod:`ledger.ops.postfix_conf`.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import stat
import statistics
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from ledger.config import (
    DEFAULT_CONFIG_PATH,
    MIN_SECRET_BYTES,
    SECRET_ENV,
    Config,
    ConfigError,
    config_path,
    load_config,
    read_srs_secrets,
    secret_file_exposure,
)
from ledger.redis_settings import REDIS_SETTINGS
from ledger.store import Ledger

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GOOD_SECRET_BYTES = 32
LATENCY_PINGS = 20
ENCODING_SAMPLE = 200


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "reason": self.reason}


# -- config and secret --------------------------------------------------------------------------

def check_config(path: str | None, redis_url: str | None) -> tuple[Check, Config | None]:
    path = config_path(path)
    try:
        cfg = load_config(path, redis_url=redis_url, require_secret=False, exposed_secret_ok=True)
    except ConfigError as exc:
        return Check("config", FAIL, str(exc)), None
    if path is None:
        return Check("config", WARN, "no config file (--config, $SENDER_LEDGER_CONFIG or "
                     f"{DEFAULT_CONFIG_PATH}): built-in defaults"), cfg
    notes = [f"{path} is valid"]
    if cfg.ledger.lifetime_days < 7:
        return Check("config", WARN, f"ledger.lifetime_days = {cfg.ledger.lifetime_days}: bounces "
                     "and autoreplies keep coming for days; keep entries for weeks"), cfg
    if cfg.inbound.unmatched_action != "reject":
        notes.append(f"inbound.unmatched_action = {cfg.inbound.unmatched_action} (trial mode: "
                     "backscatter is not refused)")
    return Check("config", OK, "; ".join(notes)), cfg


def _secret_section(given: str | None) -> tuple[str | None, dict[str, Any]]:
    """The config file that applies and its [secret] table (empty if unreadable)."""
    path = config_path(given)
    raw: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError):
            raw = {}
    section = raw.get("secret", {})
    return path, section if isinstance(section, dict) else {}


def configured_secret_file(given: str | None) -> str | None:
    """The config's ``secret.file``: what the milters read (their units pass no --secret-file)."""
    section = _secret_section(given)[1]
    value = section.get("file") if "value" not in section else None
    return value if isinstance(value, str) else None


def _secret_source(given: str | None, secret_file: str | None) -> tuple[str, str | None]:
    """Where the secret comes from, in load_config's order: (what, file to check)."""
    if secret_file:
        return "--secret-file", secret_file
    if os.environ.get(SECRET_ENV):
        return f"${SECRET_ENV}", None
    path, section = _secret_section(given)
    if "value" in section:
        return "secret.value (inline in the config)", path
    if isinstance(section.get("file"), str):
        return "secret.file", section["file"]
    return "", None


def _file_permissions(path: str, what: str) -> Check | None:
    """The secret's file (or the config holding it inline): exposed fails, group-writable warns."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return Check("secret", FAIL, f"cannot stat {path}: {exc.strerror}")
    exposure = secret_file_exposure(path, mode)
    if exposure is not None:
        return Check("secret", FAIL, f"{what}: {exposure}")
    if mode & stat.S_IWGRP:
        return Check("secret", WARN, f"{path} ({what}) is group-writable (mode {stat.S_IMODE(mode):04o})")
    return None


def check_secret(config_path: str | None, redis_url: str | None, secret_file: str | None) -> Check:
    try:
        cfg = load_config(config_path, redis_url=redis_url, secret_file=secret_file, read_srs=False)
    except ConfigError as exc:
        return Check("secret", FAIL, str(exc))
    what, path = _secret_source(config_path, secret_file)
    if path is not None:
        problem = _file_permissions(path, what)
        if problem is not None:
            return problem
    if len(cfg.secret) < GOOD_SECRET_BYTES:
        return Check("secret", WARN, f"from {what}: {len(cfg.secret)} bytes, short (at least "
                     f"{MIN_SECRET_BYTES}, better {GOOD_SECRET_BYTES}: head -c 32 /dev/urandom | base64)")
    where = f" {path}" if path and not what.startswith("secret.value") else ""
    return Check("secret", OK, f"from {what}{where}: {len(cfg.secret)} bytes, not world-readable")


def check_srs(cfg: Config) -> Check | None:
    """``[srs] secret_file``: readable, private, at least one secret; None while SRS is off."""
    path = cfg.srs.secret_file
    if not path:
        return None
    try:
        secrets = read_srs_secrets(path)
    except ConfigError as exc:
        return Check("srs", FAIL, str(exc))
    return Check("srs", OK, f"{path}: {len(secrets)} secret(s), not world-readable; SRS addresses "
                 f"valid for {cfg.srs.max_age_days} days")


# -- Redis ------------------------------------------------------------------------------------

def check_redis(ledger: Ledger, socket_timeout: float, behind_sentinel: bool = False) -> list[Check]:
    """Reachability, latency, eviction policy, durability, the layout's settings and hash encodings."""
    client = ledger.client
    try:
        client.ping()
        server = client.info("server")
    except redis.RedisError as exc:
        return [Check("redis", FAIL, f"cannot reach Redis: {str(exc).splitlines()[0]}")]
    checks = [Check("redis", OK, f"reachable, Redis {server.get('redis_version', '?')}")]
    checks.append(_latency(client, socket_timeout))
    checks.append(_eviction(client))
    durability = _durability(ledger, behind_sentinel)
    if durability is not None:
        checks.append(durability)
    config = _config_get(client)
    checks.extend(_settings(config))
    checks.append(_encodings(ledger, config))
    return checks


def _latency(client: redis.Redis, socket_timeout: float) -> Check:
    samples: list[float] = []
    try:
        for _ in range(LATENCY_PINGS):
            start = time.perf_counter()
            client.ping()
            samples.append((time.perf_counter() - start) * 1000)
    except redis.RedisError as exc:
        return Check("redis latency", FAIL, f"a PING failed: {exc}")
    median, worst = statistics.median(samples), max(samples)
    text = f"round trip median {median:.2f} ms, max {worst:.2f} ms over {len(samples)} PINGs"
    if worst >= socket_timeout * 1000 / 2:
        return Check("redis latency", FAIL, f"{text}: close to redis.socket_timeout "
                     f"({socket_timeout}s), lookups will time out")
    if median > 5:
        return Check("redis latency", WARN, f"{text}: slow for a per-message lookup")
    return Check("redis latency", OK, text)


def _durability(ledger: Ledger, behind_sentinel: bool) -> Check | None:
    """Can records be confirmed on ``redis.wait_replicas`` replicas, and is that asked for?"""
    if not ledger.wait_replicas and not behind_sentinel:
        return None  # a single Redis: no replica to wait for
    try:
        attached = int(ledger.client.info("replication").get("connected_slaves", 0))
    except redis.RedisError as exc:
        return Check("redis durability", WARN, f"cannot read INFO replication: {exc}")
    if ledger.wait_replicas > attached:
        return Check("redis durability", FAIL, f"redis.wait_replicas = {ledger.wait_replicas} but the "
                     f"master has {attached} replica(s) attached: no record is confirmed, the "
                     "outbound milter sends every message unrecorded")
    if not ledger.wait_replicas:
        return Check("redis durability", WARN, "behind Sentinel with redis.wait_replicas = 0: a record "
                     "written to a master that is being replaced is reported written and lost; set "
                     "wait_replicas (below the number of replicas, to survive losing one)")
    return Check("redis durability", OK, f"records are confirmed on {ledger.wait_replicas} of "
                 f"{attached} attached replica(s)")


def _eviction(client: redis.Redis) -> Check:
    try:
        memory = client.info("memory")
    except redis.RedisError as exc:
        return Check("redis eviction", WARN, f"cannot read INFO memory: {exc}")
    policy = str(memory.get("maxmemory_policy", "?"))
    limit = int(memory.get("maxmemory", 0) or 0)
    if policy == "noeviction":
        return Check("redis eviction", OK, "maxmemory-policy noeviction: ledger keys are never evicted")
    detail = (" (maxmemory is 0 so nothing is evicted yet, but it would be as soon as a limit is set)"
              if limit == 0 else f" with maxmemory {limit} bytes")
    return Check("redis eviction", FAIL, f"maxmemory-policy {policy} can evict ledger keys (they all "
                 f"have an expiry){detail}: set maxmemory-policy noeviction")


_ALIASES = {"hash-max-listpack-entries": "hash-max-ziplist-entries",
            "hash-max-listpack-value": "hash-max-ziplist-value"}


def _config_get(client: redis.Redis) -> dict[str, str] | None:
    """The REDIS_SETTINGS as the server has them, or None if CONFIG is not allowed."""
    found: dict[str, str] = {}
    try:
        for name in REDIS_SETTINGS:
            reply = client.config_get(name) or client.config_get(_ALIASES.get(name, name))
            for key, value in reply.items():
                k = key.decode() if isinstance(key, bytes) else str(key)
                found[name if k in (name, _ALIASES.get(name)) else k] = (
                    value.decode() if isinstance(value, bytes) else str(value))
    except redis.RedisError:
        return None
    return found


def _settings(config: dict[str, str] | None) -> list[Check]:
    if config is None:
        return [Check("redis settings", WARN, "CONFIG GET is not allowed here: compare the server "
                      "with conf/redis-ledger.conf by hand")]
    checks = []
    for name, wanted in REDIS_SETTINGS.items():
        if name == "maxmemory-policy":
            continue
        actual = config.get(name)
        if actual is None:
            checks.append(Check(f"redis {name}", WARN, "not known to this Redis"))
        elif wanted.isdigit():
            status = OK if actual.isdigit() and int(actual) >= int(wanted) else WARN
            checks.append(Check(f"redis {name}", status, f"{actual} (wanted at least {wanted})"))
        else:
            status = OK if actual == wanted else WARN
            checks.append(Check(f"redis {name}", status, f"{actual} (wanted {wanted})"))
    return checks


def _encodings(ledger: Ledger, config: dict[str, str] | None) -> Check:
    """Sample ledger hashes: a bucket past hash-max-listpack-entries became a hashtable."""
    client = ledger.client
    keys: list[bytes] = []
    # Only the day hashes: other helpers' keys (counters, streams) may share the namespace.
    layout = re.compile(rb"^" + re.escape(ledger.namespace.encode()) + rb":\{[0-9a-f]+\}:[a-z]:\d+$")
    try:
        for key in client.scan_iter(match=f"{ledger.namespace}:{{*}}:*", count=1000):
            if not layout.match(key):
                continue
            keys.append(key)
            if len(keys) >= ENCODING_SAMPLE:
                break
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.object("encoding", key)
            pipe.hlen(key)
        replies = pipe.execute() if keys else []
    except redis.RedisError as exc:
        return Check("redis encoding", WARN, f"cannot sample ledger keys: {exc}")
    if not keys:
        return Check("redis encoding", OK, f"no ledger keys under {ledger.namespace}: yet to record")
    encodings = [r.decode() if isinstance(r, bytes) else str(r) for r in replies[0::2]]
    largest = max(int(n) for n in replies[1::2])
    hashtables = sum(1 for e in encodings if e == "hashtable")
    limit = int(config["hash-max-listpack-entries"]) if config and config.get(
        "hash-max-listpack-entries", "").isdigit() else None
    text = f"{len(keys)} ledger keys sampled, largest bucket {largest} entries"
    if hashtables:
        return Check("redis encoding", WARN, f"{text}; {hashtables} are hashtables (about 5x the memory): "
                     "raise hash-max-listpack-entries above the largest bucket, or ledger.bucket_bits")
    if limit is not None and largest > limit * 3 // 4:
        return Check("redis encoding", WARN, f"{text}, close to hash-max-listpack-entries {limit}")
    return Check("redis encoding", OK, f"{text}; all compact ({', '.join(sorted(set(encodings)))})")


# -- milter sockets ---------------------------------------------------------------------------

def _connect(spec: str) -> str | None:
    """None if something accepts connections at a pymilter socket spec, else why not."""
    kind, _, rest = spec.partition(":")
    try:
        if kind in ("unix", "local"):
            st = os.stat(rest)
            if not stat.S_ISSOCK(st.st_mode):
                return f"{rest} exists but is not a socket"
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(rest)
            return None
        port, _, host = rest.partition("@")
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return None
    except FileNotFoundError:
        return f"{rest} does not exist"
    except (OSError, ValueError) as exc:
        return str(exc)


def postfix_groups() -> set[int]:
    """The group ids Postfix's daemons run with: postfix's own group and every group
    /etc/group lists postfix in (they take them with initgroups when they drop root),
    e.g. sender-ledger, which the Debian package adds postfix to."""
    try:
        entry = pwd.getpwnam("postfix")
    except KeyError:
        return set()
    return set(os.getgrouplist("postfix", entry.pw_gid))


def _reachable_by_postfix(path: str, groups: set[int] | None = None) -> str | None:
    """Why the postfix user (with ``groups``, default :func:`postfix_groups`) could not
    connect to a unix socket, if it could not."""
    groups = postfix_groups() if groups is None else groups
    mode = os.stat(path)
    if not (mode.st_mode & 0o002 or (mode.st_gid in groups and mode.st_mode & 0o020)):
        return f"socket mode {stat.S_IMODE(mode.st_mode):04o} lets neither others nor group postfix connect"
    parent = os.path.dirname(path) or "."
    pmode = os.stat(parent)
    if not (pmode.st_mode & 0o001 or (pmode.st_gid in groups and pmode.st_mode & 0o010)):
        return f"directory {parent} (mode {stat.S_IMODE(pmode.st_mode):04o}) is not searchable by postfix"
    return None


def check_sockets(cfg: Config, needed: Iterable[str] = ()) -> list[Check]:
    """Is each milter listening? ``needed`` names the sides Postfix is configured to use."""
    required = set(needed)
    checks = []
    for side, spec in (("outbound", cfg.outbound.socket), ("inbound", cfg.inbound.socket)):
        name = f"{side} milter socket"
        problem = _connect(spec)
        if problem is None:
            path = spec.partition(":")[2]
            access = _reachable_by_postfix(path) if spec.startswith(("unix:", "local:")) else None
            if access:
                checks.append(Check(name, WARN, f"{spec} is listening but {access}"))
            else:
                checks.append(Check(name, OK, f"{spec} accepts connections"))
        elif side in required:
            checks.append(Check(name, FAIL, f"{spec}: {problem}; Postfix uses this milter, so "
                                "mail gets milter_default_action"))
        else:
            checks.append(Check(name, WARN, f"{spec}: {problem} (fine if this host does not run "
                                f"the {side} milter)"))
    return checks


# -- the outbound spool ---------------------------------------------------------------------------

def check_spool(cfg: Config) -> Check:
    """Can the spool keep records through an outage, and does it hold any now?"""
    from ledger.spool import WARN_RATIO, Spool

    spool = Spool(cfg.outbound.spool_dir, cfg.outbound.spool_max_bytes)
    directory = spool.directory
    probe = directory if directory.exists() else directory.parent
    if not probe.exists():
        return Check("spool", WARN, f"{directory} and its parent do not exist: the outbound milter "
                     "makes it if it can (create it, owned by the milter's user)")
    if not os.access(probe, os.W_OK | os.X_OK):
        return Check("spool", FAIL, f"{probe} is not writable: records the ledger cannot take "
                     "during an outage would be lost")
    status = spool.status()
    if not status.records:
        return Check("spool", OK, f"{directory}: empty (bound {status.max_bytes} bytes)")
    text = (f"{directory}: {status.records} record(s) waiting for the ledger, oldest "
            f"{status.age():.0f} s old, {status.bytes} of {status.max_bytes} bytes")
    if status.bytes >= WARN_RATIO * status.max_bytes:
        return Check("spool", FAIL, text + ": nearly full; is Redis reachable from the outbound milter?")
    if status.age() > 60:
        return Check("spool", WARN, text + ": not replayed for over a minute (is the outbound milter "
                     "running, and can it reach Redis? `sender-ledger spool flush` replays by hand)")
    return Check("spool", OK, text)

