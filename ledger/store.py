"""The ledger in Redis: what was sent, as keyed hashes, sliced by day.

Layout (docs/redis-layout.md: keys, fields, values, expiry, memory): one
Redis hash per (bucket, kind, UTC day)::

    <namespace>:{<bucket hex>}:<kind>:<day number>   field: 8-byte hash   value: small int

Only the bucket is inside the braces, so on Redis Cluster all days of one
bucket share a slot and one script call can scan them. Every key expires as a
whole ``lifetime_days`` after its day ends; nothing needs sweeping. With the
Redis settings in ``conf/redis-ledger.conf`` (``hash-max-listpack-entries``
above the largest bucket) a hash stays a compact listpack and costs about
13-14 bytes per entry.

The value packs two counters so a lookup returns both in one reply::

    value = matches * 128 + min(recipients, 127)

``recipients`` bounds how many bounces the message can plausibly cause;
``matches`` counts the bounces that have matched it so far.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import NoScriptError
from redis.retry import Retry
from redis.sentinel import Sentinel

from ledger.config import RedisSettings
from ledger.hashing import MESSAGE, EntryHash

SECONDS_PER_DAY = 86400
RECIPIENT_CAP = 127
MATCH_STEP = 128

# Scan the day keys of one bucket, newest first, for each field; for each field
# return {position of the day key, stored value} or false. Served as a Redis 7
# function (FCALL_RO: read-only, allowed in Cluster pipelines and on replicas),
# or as a plain script on older Redis.
_FIND_BODY = """
local out = {}
for i, f in ipairs(args) do
  out[i] = false
  for j, k in ipairs(keys) do
    local v = redis.call('HGET', k, f)
    if v then
      out[i] = {j, tonumber(v)}
      break
    end
  end
end
return out
"""
# Count one more bounce against one entry, atomically within its budget:
# keys = {day key, claim-token key}, args = {field, matches allowed per
# recipient (0: no limit)}. Returns 1 (counted, or counted before under this
# token), 0 (budget already spent: another bounce won the race) or -1 (the
# entry is gone). Checking and counting in one call is what keeps two bounces
# racing in two sessions from both taking the last unit; the token (kept a
# day) makes a retry of a claim whose reply was lost count once; and an entry
# that expired is never re-created without its expiry.
_CLAIM_BODY = """
if redis.call('EXISTS', keys[2]) == 1 then return 1 end
local v = redis.call('HGET', keys[1], args[1])
if not v then return -1 end
v = tonumber(v)
local per = tonumber(args[2])
local recipients = v % 128
if recipients < 1 then recipients = 1 end
if per > 0 and math.floor(v / 128) >= recipients * per then return 0 end
redis.call('HINCRBY', keys[1], args[1], 128)
redis.call('SET', keys[2], '1', 'EX', 86400)
return 1
"""
FUNCTION_NAME = "sender_ledger_find_v1"
CLAIM_FUNCTION = "sender_ledger_claim_v1"
_FIND_LIBRARY = (
    "#!lua name=sender_ledger\n"
    f"local function find(keys, args){_FIND_BODY}end\n"
    f"local function claim(keys, args){_CLAIM_BODY}end\n"
    f"redis.register_function{{function_name='{FUNCTION_NAME}', callback=find, flags={{'no-writes'}}}}\n"
    f"redis.register_function{{function_name='{CLAIM_FUNCTION}', callback=claim}}\n"
)
_FIND_SCRIPT = f"local keys, args = KEYS, ARGV{_FIND_BODY}"
_FIND_SHA = hashlib.sha1(_FIND_SCRIPT.encode()).hexdigest()
_CLAIM_SCRIPT = f"local keys, args = KEYS, ARGV{_CLAIM_BODY}"
_CLAIM_SHA = hashlib.sha1(_CLAIM_SCRIPT.encode()).hexdigest()
CLAIMED, SPENT, GONE = 1, 0, -1


def _code_missing(exc: redis.ResponseError) -> bool:
    """Redis lost our function or script (a restart without persistence, a new node)."""
    text = str(exc)
    return "Function not found" in text or "NOSCRIPT" in text or isinstance(exc, NoScriptError)


class LedgerUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


@dataclass(frozen=True)
class Match:
    """A ledger entry that was found: the day it was recorded and its counters."""

    entry: EntryHash
    day: int
    recipients: int
    matches: int

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.day * SECONDS_PER_DAY))


def today() -> int:
    """The current UTC day number (days since 1970-01-01)."""
    return int(time.time() // SECONDS_PER_DAY)


# redis-py before 4.4 (Debian 12 ships 4.3.4) has no socket_connect_timeout for unix
# sockets and raises TypeError on it; there socket_timeout bounds the connect as well.
_UNIX_TAKES_CONNECT_TIMEOUT = "socket_connect_timeout" in inspect.signature(
    UnixDomainSocketConnection.__init__).parameters


def connect(url: str, socket_timeout: float = 0.5, connect_timeout: float = 0.5) -> redis.Redis:
    """A Redis client for ``redis://``, ``rediss://`` or ``unix://`` URLs.

    Short timeouts and a single immediate retry: a dead ledger must cost the MTA
    at most about a second per message, never the default backoff of seconds.
    """
    options: dict[str, Any] = {}
    if not url.startswith("unix:") or _UNIX_TAKES_CONNECT_TIMEOUT:
        options["socket_connect_timeout"] = connect_timeout
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=False,
        **options,
    )


def client_for(settings: RedisSettings) -> redis.Redis:
    """The client the settings ask for: a single Redis, a Cluster, or via Sentinel.

    Whatever the topology, the ledger code above it is the same: the keys
    keep each bucket in one hash slot, and lookups are read-only functions.
    """
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
    }
    if settings.cluster:
        cluster = RedisCluster.from_url(settings.url, **options)
        return cluster  # type: ignore[return-value]  # the same command API
    if settings.sentinels:
        hosts = [(h, int(p)) for h, _, p in (s.rpartition(":") for s in settings.sentinels)]
        # The URL contributes only credentials, database and TLS; the sentinels say where.
        url_options: dict[str, Any] = dict(parse_url(settings.url))  # type: ignore[no-untyped-call]
        for key in ("host", "port", "path", "connection_class"):
            url_options.pop(key, None)
        sentinel = Sentinel(hosts, sentinel_kwargs=options, **options)  # type: ignore[no-untyped-call]
        master = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.sentinel_master, retry=Retry(NoBackoff(), 1), **url_options)
        return cast(redis.Redis, master)
    return connect(settings.url, settings.socket_timeout, settings.connect_timeout)


class Ledger:
    """Record and find entries. Thread-safe: redis-py pools its connections."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "sl",
        lifetime_days: int = 30,
        bucket_bits: int = 6,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.lifetime_days = lifetime_days
        self._bucket_width = max(1, (bucket_bits + 3) // 4)
        self._use_function: bool | None = None  # decided when the code is first loaded

    # -- keys -----------------------------------------------------------------
    def key(self, bucket: int, day: int, kind: bytes = MESSAGE) -> str:
        return f"{self.namespace}:{{{bucket:0{self._bucket_width}x}}}:{kind.decode()}:{day}"

    def key_pattern(self, kind: bytes = MESSAGE) -> str:
        """A SCAN pattern matching every ledger key of one kind."""
        return f"{self.namespace}:{{*}}:{kind.decode()}:*"

    def expires_at(self, day: int) -> int:
        """The end of day ``day + lifetime_days``: the last day :meth:`window` still scans it."""
        return (day + self.lifetime_days + 1) * SECONDS_PER_DAY

    def window(self, day: int | None = None) -> list[int]:
        """Days a lookup scans, newest first (tomorrow too, for clock skew)."""
        day = today() if day is None else day
        return list(range(day + 1, day - self.lifetime_days - 1, -1))

    # -- operations -----------------------------------------------------------
    def record(
        self,
        entries: Iterable[EntryHash],
        recipients: int = 1,
        kind: bytes = MESSAGE,
        day: int | None = None,
        extra: Callable[[Pipeline], object] | None = None,
    ) -> int:
        """Record entries (one round trip). Returns how many were new.

        ``extra`` may queue more commands (e.g. the observer's counters) on the
        same pipeline; their replies and errors are ignored, so they can never
        turn a good record into a failure.
        """
        return self.record_kinds([(kind, entries, recipients)], day, extra)

    def record_kinds(
        self,
        batches: Sequence[tuple[bytes, Iterable[EntryHash], int]],
        day: int | None = None,
        extra: Callable[[Pipeline], object] | None = None,
    ) -> int:
        """Record several batches of (kind, entries, recipients) in one round trip.

        The outbound side stores a message's entries and its (sender,
        recipient) pairs together, so a message costs one round trip however
        many kinds it yields (``extra`` as for :meth:`record`). Returns how
        many entries were new.
        """
        day = today() if day is None else day
        return self.record_many([(day, batches)], extra)[0]

    def record_many(
        self,
        records: Sequence[tuple[int, Sequence[tuple[bytes, Iterable[EntryHash], int]]]],
        extra: Callable[[Pipeline], object] | None = None,
    ) -> list[int]:
        """Record many (day, batches) records in one round trip; how many entries of each were new.

        ``HSETNX`` makes this idempotent: a record written twice (a spool
        replay of a write that had in fact landed) counts once and keeps the
        bounce count it already has. Raises :class:`LedgerUnavailable`.
        """
        plans: list[dict[str, list[bytes]]] = []
        pipe = self.client.pipeline(transaction=False)
        own = 0
        for day, batches in records:
            keys: dict[str, list[bytes]] = defaultdict(list)
            values: dict[str, int] = {}
            for kind, entries, recipients in batches:
                value = max(1, min(recipients, RECIPIENT_CAP))
                for entry in entries:
                    key = self.key(entry.bucket, day, kind)
                    keys[key].append(entry.field)
                    values[key] = value
            for key, fields in keys.items():
                for field in fields:
                    pipe.hsetnx(key, field, values[key])
                pipe.expireat(key, self.expires_at(day))
                own += len(fields) + 1
            plans.append(keys)
        if not own:
            return [0] * len(records)
        try:
            if extra is not None:
                extra(pipe)
            results = pipe.execute(raise_on_error=extra is None)
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        for reply in results[:own]:
            if isinstance(reply, Exception):
                raise LedgerUnavailable(str(reply))
        replies = iter(results)
        counts = []
        for keys in plans:
            new = 0
            for fields in keys.values():
                new += sum(int(next(replies)) for _ in fields)
                next(replies)  # the EXPIREAT reply
            counts.append(new)
        return counts

    def find(
        self,
        entries: Sequence[EntryHash],
        kind: bytes = MESSAGE,
        day: int | None = None,
    ) -> dict[EntryHash, Match]:
        """Look up many entries of one kind at once (one round trip)."""
        return self.find_kinds({kind: entries}, day).get(kind, {})

    def find_kinds(
        self,
        requests: Mapping[bytes, Sequence[EntryHash]],
        day: int | None = None,
    ) -> dict[bytes, dict[EntryHash, Match]]:
        """Look up entries of several kinds: one script call per (kind, bucket), one round trip.

        The inbound check asks for a candidate's references and its
        (sender, recipient) pairs together, so the envelope check costs no
        second round trip.
        """
        days = self.window(day)
        groups: list[tuple[bytes, list[EntryHash]]] = []
        for kind, entries in requests.items():
            by_bucket: dict[int, list[EntryHash]] = defaultdict(list)
            for entry in dict.fromkeys(entries):
                by_bucket[entry.bucket].append(entry)
            groups.extend((kind, group) for group in by_bucket.values())
        found: dict[bytes, dict[EntryHash, Match]] = {kind: {} for kind in requests}
        if not groups:
            return found
        for attempt in (1, 2):
            try:
                if self._use_function is None:
                    self._load_code()
                pipe = self.client.pipeline(transaction=False)
                for kind, group in groups:
                    # one bucket per call: all its day keys (of any kind) share a hash slot
                    keys = [self.key(group[0].bucket, d, kind) for d in days]
                    fields = [e.field for e in group]
                    if self._use_function:
                        pipe.fcall_ro(FUNCTION_NAME, len(keys), *keys, *fields)
                    else:
                        pipe.evalsha(_FIND_SHA, len(keys), *keys, *fields)
                replies = pipe.execute()
                break
            except redis.ResponseError as exc:
                if attempt == 1 and _code_missing(exc):
                    self._use_function = None  # load it again, then retry once
                    continue
                raise LedgerUnavailable(str(exc)) from exc
            except redis.RedisError as exc:
                raise LedgerUnavailable(str(exc)) from exc
        for (kind, group), reply in zip(groups, replies, strict=True):
            for entry, hit in zip(group, reply, strict=True):
                if hit:
                    position, value = int(hit[0]), int(hit[1])
                    found[kind][entry] = Match(
                        entry=entry,
                        day=days[position - 1],
                        recipients=value % MATCH_STEP,
                        matches=value // MATCH_STEP,
                    )
        return found

    def _load_code(self) -> None:
        """Load the lookup code: a Redis 7 function, else (Redis 6) a script."""
        try:
            self.client.function_load(_FIND_LIBRARY, replace=True)
            self._use_function = True
        except redis.ResponseError:
            self.client.script_load(_FIND_SCRIPT)
            self.client.script_load(_CLAIM_SCRIPT)
            self._use_function = False

    def queue_count(self, pipe: Pipeline, match: Match, kind: bytes = MESSAGE,
                    per_recipient: int = 0, token: str | None = None) -> None:
        """Queue "one more bounce" for a matched entry on someone's pipeline.

        With ``per_recipient`` the count is only taken within the budget
        (recipients x per_recipient); 0 counts unconditionally. Either way an
        entry that is gone is not re-created, and a count queued again under
        the same ``token`` is taken once. The caller must have run a lookup
        (:meth:`find_kinds`) on this ledger first, which loads the code.
        """
        key = self.key(match.entry.bucket, match.day, kind)
        token_key = f"{self.namespace}:{{{match.entry.bucket:0{self._bucket_width}x}}}:c:" \
            f"{token or uuid.uuid4().hex}:{match.entry.field.hex()}"
        if self._use_function is False:
            pipe.evalsha(_CLAIM_SHA, 2, key, token_key, match.entry.field, per_recipient)
        else:
            pipe.fcall(CLAIM_FUNCTION, 2, key, token_key, match.entry.field, per_recipient)

    def claim(self, matches: Sequence[Match], per_recipient: int, kind: bytes = MESSAGE,
              token: str | None = None) -> list[int]:
        """Count one bounce against each match, atomically within its budget (one round trip).

        Returns CLAIMED, SPENT or GONE per match. A claim retried with the same
        ``token`` counts once. Raises LedgerUnavailable.
        """
        for attempt in (1, 2):
            try:
                if self._use_function is None:
                    self._load_code()
                pipe = self.client.pipeline(transaction=False)
                for match in matches:
                    self.queue_count(pipe, match, kind, per_recipient, token)
                return [int(r) for r in pipe.execute()]
            except redis.ResponseError as exc:
                if attempt == 1 and _code_missing(exc):
                    self._use_function = None
                    continue
                raise LedgerUnavailable(str(exc)) from exc
            except redis.RedisError as exc:
                raise LedgerUnavailable(str(exc)) from exc
        raise LedgerUnavailable("could not load the ledger's code")

    def unclaim(self, matches: Sequence[Match], kind: bytes = MESSAGE) -> None:
        """Give back counts taken by :meth:`claim` (a multi-recipient bounce lost one race)."""
        try:
            pipe = self.client.pipeline(transaction=False)
            for match in matches:
                pipe.hincrby(self.key(match.entry.bucket, match.day, kind), match.entry.field, -MATCH_STEP)
            pipe.execute()
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def count_match(self, match: Match, kind: bytes = MESSAGE) -> None:
        """Count one more bounce against a matched entry (no budget check), on its own round trip."""
        self.claim([match], 0, kind)

    def catching_up_key(self) -> str:
        """The flag a spool drain raises (its own hash slot: any node may hold it)."""
        return f"{self.namespace}:{{spool}}:catching-up"

    def mark_catching_up(self, seconds: float) -> None:
        """Say, for ``seconds``, that spooled records are being replayed (see ledger.drain)."""
        try:
            self.client.set(self.catching_up_key(), b"1", px=max(1, int(seconds * 1000)))
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def catching_up(self) -> bool:
        """True while a spool drain is under way somewhere (raises LedgerUnavailable)."""
        try:
            return bool(self.client.exists(self.catching_up_key()))
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc


# Redis settings the layout relies on (conf/redis-ledger.conf explains each;
# ``doctor`` checks them). A bucket larger than hash-max-listpack-entries turns
# silently into a hashtable at ~5x the memory.
REDIS_SETTINGS: dict[str, str] = {
    "hash-max-listpack-entries": "2048",
    "hash-max-listpack-value": "64",
    "maxmemory-policy": "noeviction",
    "lazyfree-lazy-expire": "yes",
}
