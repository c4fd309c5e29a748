"""Configuration: one TOML file, validated into frozen dataclasses.

Every problem is reported as a :class:`ConfigError` whose message names the
offending key, so the command line can print one line instead of a traceback.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

CONFIG_ENV = "SENDER_LEDGER_CONFIG"
# Where the Debian package puts the configuration: used when nothing else names a file.
DEFAULT_CONFIG_PATH = "/etc/sender-ledger/sender-ledger.toml"
SECRET_ENV = "SENDER_LEDGER_SECRET"
MIN_SECRET_BYTES = 16

UNMATCHED_ACTIONS = ("reject", "tag", "accept")
NO_REFERENCE_ACTIONS = ("reject", "tag", "accept")
UNREACHABLE_ACTIONS = ("tempfail", "accept")
RELAY_ACTIONS = ("tag", "accept")
LOG_ADDRESS_MODES = ("domain", "hash", "full")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key."""


class SecretFileExposed(ConfigError):
    """The secret file is readable or writable by others: refused even when no secret is required."""


@dataclass(frozen=True)
class RedisSettings:
    url: str = "unix:///run/redis/redis-server.sock"
    socket_timeout: float = 0.5
    connect_timeout: float = 0.5
    namespace: str = "sl"
    # Redis Cluster: url names any one node; the client finds the others.
    cluster: bool = False
    # Redis Sentinel: the sentinels ("host:port") and the monitored master's name;
    # url then only supplies the database, password and TLS settings.
    sentinels: tuple[str, ...] = ()
    sentinel_master: str = ""
    # Durability: a record counts as written only once this many replicas hold it
    # (WAIT at the end of its pipeline; else LedgerUnavailable and the outbound side
    # keeps it). 0 = off, right for a single Redis; set 1+ behind Sentinel, where a
    # write to a master that is being replaced is otherwise lost without a trace.
    wait_replicas: int = 0
    # How long a record waits for those replicas (only long while too few are attached).
    wait_timeout_ms: int = 100


@dataclass(frozen=True)
class LedgerSettings:
    lifetime_days: int = 30
    bucket_bits: int = 6
    matches_per_recipient: int = 3


@dataclass(frozen=True)
class OutboundSettings:
    socket: str = "unix:/run/sender-ledger/outbound.sock"
    # Worker processes on the socket ("auto" in the file = this machine's cores; see
    # parse_workers): each is a whole milter with its own Redis connection, bookkeeper,
    # spool segment and drainer.
    workers: int = 1
    message_id_domain: str = ""
    # Records the ledger cannot take now (Redis down, hung, failing over) are kept
    # here, hashed, and replayed when it answers again (ledger/spool.py).
    spool_dir: str = "/var/lib/sender-ledger/spool"
    # ~150 bytes a record: 256 MiB hold well over a million messages.
    spool_max_bytes: int = 256 * 1024 * 1024
    # How often the milter tries to replay the spool while it holds records.
    spool_retry_seconds: float = 1.0


def _kind_table(settings: object) -> dict[str, str]:
    """A per-kind settings table (one field per kind of backscatter) as a dict."""
    return {f.name: getattr(settings, f.name) for f in fields(settings)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class NoReferenceSettings:
    """What to do, per kind, with a candidate that names neither an original nor its recipients.

    Defaults (docs/policy.md, "Defaults"): virus notices and challenges are never wanted
    unverified, ARF reports are wanted by the postmaster always, everything
    else is tagged because real bounces without a reference exist (about one
    in eight) and losing one costs more than tagging a stray one.
    """

    dsn: str = "tag"
    bounce: str = "tag"
    virus: str = "reject"
    challenge: str = "reject"
    subscription: str = "tag"
    autoreply: str = "tag"
    mdn: str = "tag"
    arf: str = "accept"
    unknown: str = "tag"

    def as_dict(self) -> dict[str, str]:
        return _kind_table(self)


@dataclass(frozen=True)
class UnmatchedSettings:
    """Per-kind exceptions to ``inbound.unmatched_action`` ("" = no exception; docs/policy.md).

    ARF feedback reports are the one default exception: a mailbox provider's
    report goes to the abuse address, not to the original's sender, so its
    reference can never match; and a report about mail forged in the domain's
    name is exactly what the abuse desk wants to read. Tag them.
    """

    dsn: str = ""
    bounce: str = ""
    virus: str = ""
    challenge: str = ""
    subscription: str = ""
    autoreply: str = ""
    mdn: str = ""
    arf: str = "tag"
    unknown: str = ""

    def as_dict(self) -> dict[str, str]:
        return {kind: action for kind, action in _kind_table(self).items() if action}


@dataclass(frozen=True)
class ExceptionSettings:
    """``[inbound.exceptions]``: senders the ledger cannot see (docs/policy.md, step 6).

    ``recipients``: addresses or whole domains (``@example.org`` or ``example.org``)
    whose unmatched backscatter is tagged instead of refused (users who also send
    through other providers). ``trusted_relays``: host names (``.example.org`` for
    every host under it), IP addresses or networks through which a returned
    original must have left (its Received chain) to count as ours. A Received line
    is written by whoever sent the message, a forger too, so ``relay_action`` is
    ``tag`` by default; ``accept`` is for a site that accepts that risk.
    """

    recipients: tuple[str, ...] = ()
    trusted_relays: tuple[str, ...] = ()
    relay_action: str = "tag"


@dataclass(frozen=True)
class InboundSettings:
    socket: str = "unix:/run/sender-ledger/inbound.sock"
    workers: int = 1  # as outbound.workers
    unmatched_action: str = "reject"
    unreachable_action: str = "tempfail"
    # 128 KiB: a bounce's own text (plain + HTML NDR, ~10-40 KiB even base64-encoded),
    # its delivery-status part and the returned original's header block (Received
    # chains and DKIM signatures, ~2-20 KiB) all come before the original's body,
    # which is never needed. See conf/sender-ledger.toml.
    max_bytes: int = 128 * 1024
    # Past max_bytes a candidate is streamed, in constant memory, for the returned
    # message's header section only (ledger/check/stream.py), up to this many bytes
    # of the whole message: the original's Message-ID pushed past max_bytes by a
    # forger's padding is still found.
    scan_bytes: int = 4 * 1024 * 1024
    max_mime_depth: int = 8
    max_mime_parts: int = 64
    parse_seconds: float = 0.5
    no_reference: NoReferenceSettings = NoReferenceSettings()
    unmatched: UnmatchedSettings = UnmatchedSettings()
    exceptions: ExceptionSettings = ExceptionSettings()
    trace_header: str = "X-Sender-Ledger"
    reject_text: str = (
        "Backscatter refused: this bounce or autoreply refers to no message sent from here"
    )
    tempfail_text: str = "Cannot verify this bounce right now, please try again later"


@dataclass(frozen=True)
class ObserveSettings:
    """Counters and the decision log kept in Redis for ``stats`` and ``log``."""

    counter_days: int = 35
    log_entries: int = 10000
    log_days: int = 7
    log_addresses: str = "domain"


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus endpoints, HOST:PORT; empty means off."""

    inbound_listen: str = ""
    outbound_listen: str = ""


@dataclass(frozen=True)
class BackfillSettings:
    # Postfix syslog names (syslog_name/service) whose mail counts as sent by the
    # domain when ``sender-ledger backfill`` reads old logs.
    outbound_services: tuple[str, ...] = (
        "postfix/submission/smtpd",
        "postfix/submissions/smtpd",
        "postfix/smtps/smtpd",
        "postfix/pickup",
    )


@dataclass(frozen=True)
class SrsSettings:
    """Bounces of mail forwarded with SRS (ledger/srs.py); off while secret_file is empty.

    The defaults are postsrsd's: a 4-character hash, 21 days of validity, ``=``.
    """

    # postsrsd's secret file: one secret a line, the first signs, all verify.
    secret_file: str = ""
    max_age_days: int = 21
    separator: str = "="
    hash_length: int = 4
    hash_min: int = 4


@dataclass(frozen=True)
class Config:
    secret: bytes = field(repr=False, default=b"")
    redis: RedisSettings = RedisSettings()
    ledger: LedgerSettings = LedgerSettings()
    outbound: OutboundSettings = OutboundSettings()
    inbound: InboundSettings = InboundSettings()
    observe: ObserveSettings = ObserveSettings()
    metrics: MetricsSettings = MetricsSettings()
    backfill: BackfillSettings = BackfillSettings()
    srs: SrsSettings = SrsSettings()
    # The SRS secrets read from srs.secret_file (empty: SRS off, or unread by a command
    # that needs no secret).
    srs_secrets: tuple[bytes, ...] = field(repr=False, default=())
    source: str = "<defaults>"

    def with_redis_url(self, url: str) -> Config:
        return replace(self, redis=replace(self.redis, url=url))


MAX_WORKERS = 64


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cgroup's or taskset's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_workers(key: str, value: Any) -> int:
    """``workers``: a count from 1 to MAX_WORKERS, or "auto" for the usable cores.

    The default is 1, not "auto": next to a Postfix on the same cores a second worker
    bought no throughput (README, Benchmarks: Postfix takes the CPU there), a metrics
    endpoint needs a single process, and each worker costs ~35 MiB and a Redis
    connection. "auto" is for a milter host serving several MTAs, where it scales.
    """
    if value == "auto":
        return min(usable_cores(), MAX_WORKERS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"{key}: expected \"auto\" or a number from 1 to {MAX_WORKERS}, "
                          f"got {value!r}")
    return value


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be a table ([{name}])")
    return value


def _build(cls: type, section: str, values: dict[str, Any]) -> Any:
    """Instantiate a settings dataclass, checking names and types key by key."""
    defaults = cls()
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{section}.{key}: unknown setting")
    kwargs: dict[str, Any] = {}
    for name in known:
        if name not in values:
            continue
        value = values[name]
        if name == "workers":
            kwargs[name] = parse_workers(f"{section}.{name}", value)
            continue
        expected = type(getattr(defaults, name))
        if is_dataclass(expected):
            if not isinstance(value, dict):
                raise ConfigError(f"{section}.{name}: must be a table ([{section}.{name}])")
            kwargs[name] = _build(expected, f"{section}.{name}", value)
            continue
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{section}.{name}: expected a list of strings")
            value = tuple(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(
                f"{section}.{name}: expected {expected.__name__}, got {type(value).__name__}"
            )
        kwargs[name] = value
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    if not cfg.redis.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"redis.url: {cfg.redis.url!r} is not a redis://, rediss:// or unix:// URL"
        )
    for sentinel in cfg.redis.sentinels:
        host, _, port = sentinel.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"redis.sentinels: {sentinel!r} is not host:port")
    if cfg.redis.sentinels and not cfg.redis.sentinel_master:
        raise ConfigError("redis.sentinel_master: required when redis.sentinels is set")
    if cfg.redis.sentinels and cfg.redis.cluster:
        raise ConfigError("redis.cluster: cannot be combined with redis.sentinels")
    if cfg.redis.socket_timeout <= 0 or cfg.redis.connect_timeout <= 0:
        raise ConfigError("redis.socket_timeout: timeouts must be positive")
    _validate_wait(cfg.redis)
    if not cfg.redis.namespace or "{" in cfg.redis.namespace or "}" in cfg.redis.namespace:
        raise ConfigError("redis.namespace: must be non-empty and contain no braces")
    if not 1 <= cfg.ledger.lifetime_days <= 400:
        raise ConfigError("ledger.lifetime_days: must be between 1 and 400")
    if not 0 <= cfg.ledger.bucket_bits <= 16:
        raise ConfigError("ledger.bucket_bits: must be between 0 and 16")
    if not 1 <= cfg.ledger.matches_per_recipient <= 100:
        raise ConfigError("ledger.matches_per_recipient: must be between 1 and 100")
    if cfg.inbound.unmatched_action not in UNMATCHED_ACTIONS:
        raise ConfigError(
            f"inbound.unmatched_action: must be one of {', '.join(UNMATCHED_ACTIONS)}"
        )
    if cfg.inbound.unreachable_action not in UNREACHABLE_ACTIONS:
        raise ConfigError(
            f"inbound.unreachable_action: must be one of {', '.join(UNREACHABLE_ACTIONS)}"
        )
    if cfg.inbound.max_bytes < 4096:
        raise ConfigError("inbound.max_bytes: must be at least 4096")
    if not cfg.inbound.max_bytes <= cfg.inbound.scan_bytes <= 1024 * 1024 * 1024:
        raise ConfigError("inbound.scan_bytes: must be at least inbound.max_bytes and at most 1 GiB")
    if not 1 <= cfg.inbound.max_mime_depth <= 100:
        raise ConfigError("inbound.max_mime_depth: must be between 1 and 100")
    if not 1 <= cfg.inbound.max_mime_parts <= 10000:
        raise ConfigError("inbound.max_mime_parts: must be between 1 and 10000")
    if not cfg.outbound.spool_dir:
        raise ConfigError("outbound.spool_dir: must name a directory")
    if cfg.outbound.spool_max_bytes < 64 * 1024:
        raise ConfigError("outbound.spool_max_bytes: must be at least 65536")
    if not 0.05 <= cfg.outbound.spool_retry_seconds <= 3600:
        raise ConfigError("outbound.spool_retry_seconds: must be between 0.05 and 3600")
    if not 0 < cfg.inbound.parse_seconds <= 30:
        raise ConfigError("inbound.parse_seconds: must be above 0 and at most 30")
    for kind, action in cfg.inbound.no_reference.as_dict().items():
        if action not in NO_REFERENCE_ACTIONS:
            raise ConfigError(
                f"inbound.no_reference.{kind}: must be one of {', '.join(NO_REFERENCE_ACTIONS)}"
            )
    for kind, action in cfg.inbound.unmatched.as_dict().items():
        if action not in UNMATCHED_ACTIONS:
            raise ConfigError(f"inbound.unmatched.{kind}: must be one of {', '.join(UNMATCHED_ACTIONS)}")
    _validate_exceptions(cfg.inbound.exceptions)
    for name in ("outbound.socket", "inbound.socket"):
        section, key = name.split(".")
        value = getattr(getattr(cfg, section), key)
        if not value.startswith(("unix:", "inet:", "inet6:", "local:")):
            raise ConfigError(f"{name}: expected unix:PATH or inet:PORT@HOST, got {value!r}")
    _validate_observe(cfg)
    _validate_srs(cfg.srs)


def _validate_srs(settings: SrsSettings) -> None:
    if settings.separator not in ("=", "+", "-"):
        raise ConfigError(f"srs.separator: must be one of =, +, -, got {settings.separator!r}")
    if not 1 <= settings.max_age_days <= 1000:  # the day stamp wraps after 1024 days
        raise ConfigError("srs.max_age_days: must be between 1 and 1000")
    if not 1 <= settings.hash_length <= 27:  # base64 of a 20-byte HMAC-SHA1: 27 characters
        raise ConfigError("srs.hash_length: must be between 1 and 27")
    if not 1 <= settings.hash_min <= settings.hash_length:
        raise ConfigError("srs.hash_min: must be between 1 and srs.hash_length")


def _validate_exceptions(settings: ExceptionSettings) -> None:
    from ledger.exceptions import ExceptionError, RecipientExceptions, RelayList

    for key, parse in (("recipients", RecipientExceptions.parse), ("trusted_relays", RelayList.parse)):
        try:
            parse(getattr(settings, key))
        except ExceptionError as exc:
            raise ConfigError(f"inbound.exceptions.{key}: {exc}") from None
    if settings.relay_action not in RELAY_ACTIONS:
        raise ConfigError(f"inbound.exceptions.relay_action: must be one of {', '.join(RELAY_ACTIONS)}")


def _validate_wait(settings: RedisSettings) -> None:
    if not 0 <= settings.wait_replicas <= 16:
        raise ConfigError("redis.wait_replicas: must be between 0 and 16")
    if settings.wait_replicas and settings.cluster:
        raise ConfigError("redis.wait_replicas: not supported with redis.cluster "
                          "(a record spans several primaries)")
    # WAIT 0 ms blocks forever; a wait as long as the socket timeout ends as a timeout.
    if not 1 <= settings.wait_timeout_ms < settings.socket_timeout * 1000:
        raise ConfigError(
            f"redis.wait_timeout_ms: must be at least 1 and below redis.socket_timeout "
            f"({settings.socket_timeout * 1000:.0f} ms)"
        )


def _validate_observe(cfg: Config) -> None:
    if not 1 <= cfg.observe.counter_days <= 400:
        raise ConfigError("observe.counter_days: must be between 1 and 400")
    if not 100 <= cfg.observe.log_entries <= 10_000_000:
        raise ConfigError("observe.log_entries: must be between 100 and 10000000")
    if not 1 <= cfg.observe.log_days <= 400:
        raise ConfigError("observe.log_days: must be between 1 and 400")
    if cfg.observe.log_addresses not in LOG_ADDRESS_MODES:
        raise ConfigError(f"observe.log_addresses: must be one of {', '.join(LOG_ADDRESS_MODES)}")
    for side in ("inbound", "outbound"):
        value = getattr(cfg.metrics, f"{side}_listen")
        if value and parse_listen(value) is None:
            raise ConfigError(f"metrics.{side}_listen: expected HOST:PORT, got {value!r}")


def parse_listen(value: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9469"`` or ``"[::1]:9469"`` -> (host, port); None if malformed."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def secret_file_exposure(path: str, mode: int) -> str | None:
    """Why a secret file with this mode is refused, with the fix; None when it is private enough.

    As ssh does with private keys: readable or writable by others is refused
    (anyone on the host could forge "sent" entries or read the key); readable
    by the group is fine, since the milter user reads it through its group.
    """
    mode = stat.S_IMODE(mode)
    exposed = [what for what, bit in (("readable", stat.S_IROTH), ("writable", stat.S_IWOTH))
               if mode & bit]
    if not exposed:
        return None
    return (f"{path} is {' and '.join(exposed)} by others (mode {mode:04o}); "
            f"run: chmod {mode & 0o770:o} {path}")


def read_secret_file(path: str, key: str = "secret.file") -> bytes:
    """Read a secret file; refuse unreadable, exposed or too-short secrets.

    The mode is taken from the open file (fstat), so what is checked is what is read.
    """
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read().strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    exposure = secret_file_exposure(path, mode)
    if exposure is not None:
        raise SecretFileExposed(f"{key}: {exposure}")
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigError(f"{key}: secret in {path} is shorter than {MIN_SECRET_BYTES} bytes")
    return data


def config_path(path: str | None = None) -> str | None:
    """The configuration file that applies, or None for the built-in defaults.

    In order: ``path`` (``--config``), ``$SENDER_LEDGER_CONFIG``, then
    :data:`DEFAULT_CONFIG_PATH` if that file exists (an installed package's).
    An empty ``--config ''`` or a set but empty ``$SENDER_LEDGER_CONFIG`` means
    no file at all, the built-in defaults, whatever is in /etc: the test suite
    sets it so that a system-wide file never changes what a test sees.
    """
    if path is not None:
        return path or None
    from_env = os.environ.get(CONFIG_ENV)
    if from_env is not None:
        return from_env or None
    return DEFAULT_CONFIG_PATH if os.path.exists(DEFAULT_CONFIG_PATH) else None


def load_config(
    path: str | None = None,
    *,
    redis_url: str | None = None,
    secret_file: str | None = None,
    require_secret: bool = True,
    exposed_secret_ok: bool = False,
    read_srs: bool = True,
) -> Config:
    """Load and validate the configuration.

    The file is the one :func:`config_path` picks (``path``, else
    ``$SENDER_LEDGER_CONFIG``, else /etc/sender-ledger/sender-ledger.toml if it
    exists); with none the built-in defaults apply. The secret is taken, in order, from ``secret_file``
    (``--secret-file``), ``$SENDER_LEDGER_SECRET``, or the file's
    ``secret.value`` / ``secret.file``.

    A secret file readable or writable by others is refused (a
    :class:`SecretFileExposed`), even with ``require_secret=False``: every
    command that reads the secret stops there. Only ``doctor`` passes
    ``exposed_secret_ok`` (with ``require_secret=False``), to go on checking
    the rest and report the file as its own check.

    ``[srs] secret_file`` is read with the same tolerance; ``read_srs=False``
    leaves it unread (``doctor`` checks it on its own).
    """
    path = config_path(path)
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
        source = path
    for key in raw:
        if key not in ("secret", "redis", "ledger", "outbound", "inbound", "observe", "metrics",
                       "backfill", "srs"):
            raise ConfigError(f"{key}: unknown section")

    secret_section = _section(raw, "secret")
    for key in secret_section:
        if key not in ("value", "file"):
            raise ConfigError(f"secret.{key}: unknown setting (use secret.value or secret.file)")
    secret = b""
    if secret_file:
        secret = read_secret_file(secret_file, "--secret-file")
    elif os.environ.get(SECRET_ENV):
        secret = os.environ[SECRET_ENV].strip().encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"{SECRET_ENV}: secret is shorter than {MIN_SECRET_BYTES} bytes")
    elif "value" in secret_section:
        value = secret_section["value"]
        if not isinstance(value, str) or len(value.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"secret.value: must be a string of at least {MIN_SECRET_BYTES} bytes")
        secret = value.encode()
    elif "file" in secret_section:
        if not isinstance(secret_section["file"], str):
            raise ConfigError("secret.file: must be a path")
        try:
            secret = read_secret_file(secret_section["file"])
        except SecretFileExposed:
            if require_secret or not exposed_secret_ok:
                raise  # read, and exposed: no command may go on using it
        except ConfigError:
            if require_secret:  # without it, a missing secret file is the caller's to report
                raise
    if require_secret and not secret:
        raise ConfigError(
            "secret: no site secret; set secret.file in the config, "
            f"pass --secret-file, or set {SECRET_ENV}"
        )

    cfg = Config(
        secret=secret,
        redis=_build(RedisSettings, "redis", _section(raw, "redis")),
        ledger=_build(LedgerSettings, "ledger", _section(raw, "ledger")),
        outbound=_build(OutboundSettings, "outbound", _section(raw, "outbound")),
        inbound=_build(InboundSettings, "inbound", _section(raw, "inbound")),
        observe=_build(ObserveSettings, "observe", _section(raw, "observe")),
        metrics=_build(MetricsSettings, "metrics", _section(raw, "metrics")),
        backfill=_build(BackfillSettings, "backfill", _section(raw, "backfill")),
        srs=_build(SrsSettings, "srs", _section(raw, "srs")),
        source=source,
    )
    if redis_url:
        cfg = cfg.with_redis_url(redis_url)
    _validate(cfg)
    if cfg.srs.secret_file and read_srs:
        cfg = replace(cfg, srs_secrets=_srs_secrets(cfg.srs.secret_file, require_secret,
                                                    exposed_secret_ok))
    return cfg


def read_srs_secrets(path: str) -> tuple[bytes, ...]:
    """postsrsd's secret file: one secret a line (CR/LF stripped, empty lines skipped).

    Refused like the site secret when others may read or write it: whoever
    reads it can sign SRS addresses that this filter then accepts.
    """
    key = "srs.secret_file"
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    exposure = secret_file_exposure(path, mode)
    if exposure is not None:
        raise SecretFileExposed(f"{key}: {exposure}")
    secrets = tuple(line.strip(b"\r") for line in data.split(b"\n") if line.strip(b"\r"))
    if not secrets:
        raise ConfigError(f"{key}: {path} holds no secret (one per line)")
    return secrets


def _srs_secrets(path: str, require_secret: bool, exposed_secret_ok: bool) -> tuple[bytes, ...]:
    """The SRS secrets, with the same tolerance as the site secret's file (see load_config)."""
    try:
        return read_srs_secrets(path)
    except SecretFileExposed:
        if require_secret or not exposed_secret_ok:
            raise
    except ConfigError:
        if require_secret:
            raise
    return ()
