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

Durability: with ``wait_replicas`` = N > 0 a record's pipeline ends with
``WAIT N timeout``, and a record is only reported written when N replicas
confirmed it; otherwise :class:`LedgerUnavailable` says so and the caller keeps
it (the records are idempotent, HSETNX). A master that the sentinels have
replaced has lost its replicas, so nothing written to it is ever confirmed.
Cost: one command more in the same round trip, which waits for the replicas'
acknowledgement: 1.6x the record alone on loopback (``scripts/bench_wait.py``);
``wait_timeout_ms`` per record only while too few replicas are attached.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from ledger.days import day_key, end_of, today, window
from ledger.errors import LedgerUnavailable
from ledger.hashing import MESSAGE, EntryHash
from ledger.match import RECIPIENT_CAP, Match
from ledger.trip import RoundTrip

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
# Look up and claim in one call (the milter's end of message: one round trip).
# keys = the day keys of one bucket, newest first, then one claim-token key
# (a hash in the same slot); args = {n, n fields, n budgets, n groups}. A
# budget of -1 only looks; 0 claims without limit; k claims within
# recipients * k. At most one field per group (an envelope recipient) is
# claimed, the first found within its budget. Returns per field false or
# {position of the day key, value as found (before the claim), 1 if claimed}.
# The token hash remembers field -> day key of every claim for a day, so a
# claim whose reply was lost can be given back (_RELEASE_BODY).
_LOOKUP_BODY = """
local n = tonumber(args[1])
local days = #keys - 1
local token = keys[#keys]
local out = {}
local taken = {}
for i = 1, n do
  local f = args[1 + i]
  local per = tonumber(args[1 + n + i])
  local group = args[1 + 2 * n + i]
  out[i] = false
  for j = 1, days do
    local v = redis.call('HGET', keys[j], f)
    if v then
      v = tonumber(v)
      local claimed = 0
      if per >= 0 and not taken[group] then
        local recipients = v % 128
        if recipients < 1 then recipients = 1 end
        if per == 0 or math.floor(v / 128) < recipients * per then
          redis.call('HINCRBY', keys[j], f, 128)
          redis.call('HSET', token, f, keys[j])
          redis.call('EXPIRE', token, 86400)
          taken[group] = true
          claimed = 1
        end
      end
      out[i] = {j, v, claimed}
      break
    end
  end
end
return out
"""
# Give back claims taken under one token: keys = {token key}, args = the
# fields to give back (none: all). A day key that expired meanwhile is not
# re-created. Returns how many were given back.
_RELEASE_BODY = """
local given = 0
local fields = args
if #fields == 0 then fields = redis.call('HKEYS', keys[1]) end
for _, f in ipairs(fields) do
  local k = redis.call('HGET', keys[1], f)
  if k then
    if redis.call('HEXISTS', k, f) == 1 then
      redis.call('HINCRBY', k, f, -128)
      given = given + 1
    end
    redis.call('HDEL', keys[1], f)
  end
end
return given
"""
FUNCTION_NAME = "sender_ledger_find_v1"
CLAIM_FUNCTION = "sender_ledger_claim_v1"
LOOKUP_FUNCTION = "sender_ledger_lookup_v2"
RELEASE_FUNCTION = "sender_ledger_release_v1"
_BODIES = {FUNCTION_NAME: _FIND_BODY, CLAIM_FUNCTION: _CLAIM_BODY, LOOKUP_FUNCTION: _LOOKUP_BODY,
           RELEASE_FUNCTION: _RELEASE_BODY}
_LOCAL = {FUNCTION_NAME: "find", CLAIM_FUNCTION: "claim", LOOKUP_FUNCTION: "lookup",
          RELEASE_FUNCTION: "release"}
_FIND_LIBRARY = (
    "#!lua name=sender_ledger\n"
    + "".join(f"local function {_LOCAL[n]}(keys, args){b}end\n" for n, b in _BODIES.items())
    + "".join(
        f"redis.register_function{{function_name='{n}', callback={_LOCAL[n]}"
        + (", flags={'no-writes'}" if n == FUNCTION_NAME else "") + "}\n"
        for n in _BODIES)
)
_SCRIPTS = {n: f"local keys, args = KEYS, ARGV{b}" for n, b in _BODIES.items()}
_SHAS = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in _SCRIPTS.items()}
CLAIMED, SPENT, GONE = 1, 0, -1
LOOK_ONLY = -1  # a Claim budget that only looks


def _code_missing(exc: BaseException) -> bool:
    """Redis lost our function or script (a restart without persistence, a new node)."""
    text = str(exc)
    return "Function not found" in text or "NOSCRIPT" in text or isinstance(exc, NoScriptError)


@dataclass(frozen=True)
class Claim:
    """Take one bounce of an entry's budget as it is found (the milter's end of message).

    ``budget``: bounces per recorded recipient the entry may take (0: no
    limit); ``group``: at most one entry per group (an envelope recipient)
    is claimed within one bucket's call.
    """

    budget: int
    group: int


@dataclass
class LookupResult:
    """What a lookup found, per kind, and which of the found entries it claimed."""

    found: dict[bytes, dict[EntryHash, Match]]
    claimed: list[Match] = field(default_factory=list)
    token: str = ""


class Ledger:
    """Record and find entries. Thread-safe: redis-py pools its connections."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "sl",
        lifetime_days: int = 30,
        bucket_bits: int = 6,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.lifetime_days = lifetime_days
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._bucket_width = max(1, (bucket_bits + 3) // 4)
        self._use_function: bool | None = None  # decided when the code is first loaded
        self._window_cap = 4 * 2 ** (bucket_bits + 1)  # buckets x kinds, a few days' windows
        self._window_keys: dict[tuple[int, bytes, tuple[int, ...]], tuple[bytes, ...]] = {}

    # -- keys -----------------------------------------------------------------
    def bucket_tag(self, bucket: int) -> str:
        """``<namespace>:{<bucket hex>}``: every key of one bucket shares this hash slot."""
        return f"{self.namespace}:{{{bucket:0{self._bucket_width}x}}}"

    def key(self, bucket: int, day: int, kind: bytes = MESSAGE) -> str:
        return day_key(f"{self.bucket_tag(bucket)}:{kind.decode()}", day)

    def window_keys(self, bucket: int, kind: bytes, days: tuple[int, ...]) -> tuple[bytes, ...]:
        """The keys of a lookup's days in one bucket, encoded: the same for every lookup of a
        day, so they are made and encoded once (at most buckets x kinds x days in the cache)."""
        cached = self._window_keys.get((bucket, kind, days))
        if cached is None:
            if len(self._window_keys) >= self._window_cap:
                self._window_keys.clear()  # a new day: the old windows are no longer asked
            cached = tuple(self.key(bucket, day, kind).encode() for day in days)
            self._window_keys[(bucket, kind, days)] = cached
        return cached

    def key_pattern(self, kind: bytes = MESSAGE) -> str:
        """A SCAN pattern matching every ledger key of one kind."""
        return f"{self.namespace}:{{*}}:{kind.decode()}:*"

    def expires_at(self, day: int) -> int:
        """The end of day ``day + lifetime_days``: the last day :meth:`window` still scans it."""
        return end_of(day, self.lifetime_days)

    def window(self, day: int | None = None) -> list[int]:
        """Days a lookup scans, newest first (tomorrow too, for clock skew)."""
        return window(today() if day is None else day, self.lifetime_days)

    # -- recording --------------------------------------------------------------
    def record(self, entries: Iterable[EntryHash], recipients: int = 1, kind: bytes = MESSAGE,
               day: int | None = None, trip: RoundTrip | None = None) -> int:
        """Record entries (one round trip). Returns how many were new (see :meth:`record_many`)."""
        return self.record_kinds([(kind, entries, recipients)], day, trip)

    def record_kinds(self, batches: Sequence[tuple[bytes, Iterable[EntryHash], int]],
                     day: int | None = None, trip: RoundTrip | None = None) -> int:
        """Record several batches of (kind, entries, recipients) for one day in one round trip.

        The outbound side stores a message's entries and its (sender,
        recipient) pairs together, so a message costs one round trip however
        many kinds it yields. Returns how many entries were new.
        """
        day = today() if day is None else day
        return self.record_many([(day, batches)], trip)[0]

    def record_many(
        self,
        records: Sequence[tuple[int, Sequence[tuple[bytes, Iterable[EntryHash], int]]]],
        trip: RoundTrip | None = None,
        counted: bytes | None = None,
    ) -> list[int]:
        """Record many (day, batches) records in one round trip; how many entries of each were new
        (of kind ``counted`` only, if given).

        ``trip`` is the caller's round trip, on which others (the counters, the
        decision log) may have queued commands already: it is executed here,
        and only this record's replies decide success, so a refused counter
        never turns a good record into a failure. ``HSETNX`` makes this
        idempotent: a record written twice (a spool replay of a write that had
        in fact landed) counts once and keeps the bounce count it already has.
        Raises :class:`LedgerUnavailable` unless the entries are written (and,
        with ``wait_replicas``, confirmed).
        """
        plans: list[dict[str, list[bytes]]] = []
        trip = trip or RoundTrip(self.client)
        start = trip.mark()
        ignored: set[str] = set()  # keys of a kind not counted
        for day, batches in records:
            keys: dict[str, list[bytes]] = defaultdict(list)
            values: dict[str, int] = {}
            for kind, entries, recipients in batches:
                value = max(1, min(recipients, RECIPIENT_CAP))
                for entry in entries:
                    key = self.key(entry.bucket, day, kind)
                    keys[key].append(entry.field)
                    values[key] = value
                    if counted is not None and kind != counted:
                        ignored.add(key)
            for key, fields in keys.items():
                for name in fields:
                    trip.pipe.hsetnx(key, name, values[key])
                trip.pipe.expireat(key, self.expires_at(day))
            plans.append(keys)
        own = trip.mark() - start
        if not own:
            return [0] * len(records)
        confirm = self.queue_confirmation(trip.pipe)
        results = trip.replies(start, trip.mark())
        for reply in results[:own]:
            if isinstance(reply, Exception):
                raise LedgerUnavailable(str(reply))
        if confirm:
            self.check_confirmed(results[-1])
        replies = iter(results)
        counts = []
        for keys in plans:
            new = 0
            for key, fields in keys.items():
                added = sum(int(next(replies)) for _ in fields)
                new += 0 if key in ignored else added
                next(replies)  # the EXPIREAT reply
            counts.append(new)
        return counts

    def queue_confirmation(self, pipe: Pipeline) -> bool:
        """Queue ``WAIT`` (with ``wait_replicas``) last on a pipeline of writes; False if off.

        Last, because it covers every write before it on the same connection.
        """
        if self.wait_replicas:
            pipe.wait(self.wait_replicas, self.wait_timeout_ms)
        return bool(self.wait_replicas)

    def check_confirmed(self, reply: object) -> None:
        """The WAIT reply: how many replicas hold everything written so far."""
        if isinstance(reply, Exception):
            raise LedgerUnavailable(f"WAIT failed: {reply}")
        if not isinstance(reply, int) or reply < self.wait_replicas:
            raise LedgerUnavailable(
                f"not confirmed on {self.wait_replicas} replicas (WAIT: {reply} within "
                f"{self.wait_timeout_ms} ms); the master may have been replaced"
            )

    # -- looking up ---------------------------------------------------------------
    def lookup(self, requests: Mapping[bytes, Sequence[EntryHash]], day: int | None = None,
               claims: Mapping[EntryHash, Claim] | None = None) -> Lookup:
        """A lookup of entries of several kinds, to be queued on someone's round trip.

        With ``claims`` the entries they name are counted as they are found,
        in the same call (see :class:`Claim`); without, the lookup is
        read-only (FCALL_RO: allowed on replicas).
        """
        return Lookup(self, requests, self.window(day), claims)

    def find(self, entries: Sequence[EntryHash], kind: bytes = MESSAGE,
             day: int | None = None) -> dict[EntryHash, Match]:
        """Look up many entries of one kind at once (one round trip)."""
        return self.find_kinds({kind: entries}, day).get(kind, {})

    def find_kinds(self, requests: Mapping[bytes, Sequence[EntryHash]],
                   day: int | None = None) -> dict[bytes, dict[EntryHash, Match]]:
        """Look up entries of several kinds on a round trip of their own."""
        lookup = self.lookup(requests, day)
        trip = RoundTrip(self.client)
        lookup.queue(trip)
        return lookup.result(trip).found

    def ensure_code(self) -> None:
        """Load the ledger's Redis code once (and again after Redis lost it)."""
        if self._use_function is None:
            try:
                self._load_code()
            except redis.RedisError as exc:
                raise LedgerUnavailable(str(exc)) from exc

    def _load_code(self) -> None:
        """Load the lookup code: a Redis 7 function, else (Redis 6) scripts."""
        try:
            self.client.function_load(_FIND_LIBRARY, replace=True)
            self._use_function = True
        except redis.ResponseError:
            for script in _SCRIPTS.values():
                self.client.script_load(script)
            self._use_function = False

    def call(self, pipe: Pipeline, name: str, keys: Sequence[str | bytes], args: Sequence[Any],
             readonly: bool = False) -> None:
        """Queue one of the ledger's functions (or, on Redis 6, its script) on ``pipe``."""
        if self._use_function is False:
            pipe.evalsha(_SHAS[name], len(keys), *keys, *args)
        elif readonly:
            pipe.fcall_ro(name, len(keys), *keys, *args)
        else:
            pipe.fcall(name, len(keys), *keys, *args)

    def token_key(self, bucket: int, token: str) -> str:
        """The hash that remembers the claims one decision took in one bucket."""
        return f"{self.bucket_tag(bucket)}:c:{token}"

    def queue_release(self, pipe: Pipeline, token: str, matches: Sequence[Match] = (),
                      buckets: Iterable[int] = ()) -> None:
        """Queue "give back the claims taken under ``token``" on someone's pipeline.

        ``matches``: give back just these; ``buckets``: everything claimed in
        these buckets (a trip whose reply was lost). A day key that expired
        meanwhile is not re-created.
        """
        by_bucket: dict[int, list[bytes]] = {b: [] for b in buckets}
        for match in matches:
            by_bucket.setdefault(match.entry.bucket, []).append(match.entry.field)
        for bucket, fields in by_bucket.items():
            self.call(pipe, RELEASE_FUNCTION, [self.token_key(bucket, token)], fields)

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
        token_key = f"{self.bucket_tag(match.entry.bucket)}:c:" \
            f"{token or uuid.uuid4().hex}:{match.entry.field.hex()}"
        self.call(pipe, CLAIM_FUNCTION, [key, token_key], [match.entry.field, per_recipient])

    def claim(self, matches: Sequence[Match], per_recipient: int, kind: bytes = MESSAGE,
              token: str | None = None, budgets: Sequence[int] | None = None) -> list[int]:
        """Count one bounce against each match, atomically within its budget (one round trip).

        ``budgets`` gives each match its own ``per_recipient`` (a weak
        reference's smaller budget); by default all take ``per_recipient``.

        Returns CLAIMED, SPENT or GONE per match. A claim retried with the same
        ``token`` counts once. Raises LedgerUnavailable.
        """
        for attempt in (1, 2):
            try:
                self.ensure_code()
                pipe = self.client.pipeline(transaction=False)
                for index, match in enumerate(matches):
                    per = budgets[index] if budgets is not None else per_recipient
                    self.queue_count(pipe, match, kind, per, token)
                return [int(r) for r in pipe.execute()]
            except redis.ResponseError as exc:
                if attempt == 1 and _code_missing(exc):
                    self._use_function = None
                    continue
                raise LedgerUnavailable(str(exc)) from exc
            except redis.RedisError as exc:
                raise LedgerUnavailable(str(exc)) from exc
        raise LedgerUnavailable("could not load the ledger's code")

    def count_match(self, match: Match, kind: bytes = MESSAGE) -> None:
        """Count one more bounce against a matched entry (no budget check), on its own round trip."""
        self.claim([match], 0, kind)

    # -- the catching-up flag -------------------------------------------------------
    def catching_up_key(self) -> str:
        """The flag a spool drain raises (its own hash slot: any node may hold it)."""
        return f"{self.namespace}:{{spool}}:catching-up"

    def mark_catching_up(self, seconds: float) -> None:
        """Say, for ``seconds``, that spooled records are being replayed (see ledger.drain)."""
        try:
            self.client.set(self.catching_up_key(), b"1", px=max(1, int(seconds * 1000)))
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def queue_catching_up(self, pipe: Pipeline) -> None:
        """Queue the flag's check on someone's pipeline (its reply: see :func:`flag_raised`)."""
        pipe.exists(self.catching_up_key())

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


def flag_raised(reply: object) -> bool:
    """The catching-up flag's reply; an error counts as raised (a 451 costs a retry, a wrong 550 a bounce)."""
    return isinstance(reply, Exception) or bool(reply)


class Lookup:
    """One lookup (and maybe claim) queued on a round trip: one function call per (kind, bucket).

    All day keys of one bucket share a hash slot, so each call is Cluster-safe,
    and a pipeline of calls across buckets works on every topology.
    """

    def __init__(self, ledger: Ledger, requests: Mapping[bytes, Sequence[EntryHash]],
                 days: list[int], claims: Mapping[EntryHash, Claim] | None) -> None:
        self.ledger = ledger
        self.days = days
        self.claims = dict(claims or {})
        self.token = uuid.uuid4().hex if self.claims else ""
        self.groups: list[tuple[bytes, list[EntryHash]]] = []
        for kind, entries in requests.items():
            by_bucket: dict[int, list[EntryHash]] = defaultdict(list)
            for entry in dict.fromkeys(entries):
                by_bucket[entry.bucket].append(entry)
            self.groups.extend((kind, group) for group in by_bucket.values())
        self.kinds = list(requests)
        self._span = (0, 0)
        self._error: LedgerUnavailable | None = None

    @property
    def empty(self) -> bool:
        return not self.groups

    def queue(self, trip: RoundTrip) -> None:
        """Queue the calls on ``trip`` (loading the code first if Redis has none of ours yet)."""
        try:
            self.ledger.ensure_code()
        except LedgerUnavailable as exc:
            self._error = exc
            return
        start = trip.mark()
        self._queue(trip.pipe)
        self._span = (start, trip.mark())

    def _queue(self, pipe: Pipeline) -> None:
        ledger = self.ledger
        for kind, group in self.groups:
            keys: list[str | bytes] = list(ledger.window_keys(group[0].bucket, kind, tuple(self.days)))
            fields = [e.field for e in group]
            claims = [self.claims.get(e) for e in group]
            if not any(claims):
                ledger.call(pipe, FUNCTION_NAME, keys, fields, readonly=True)
                continue
            budgets = [LOOK_ONLY if c is None else c.budget for c in claims]
            groups = [0 if c is None else c.group for c in claims]
            keys.append(ledger.token_key(group[0].bucket, self.token))
            ledger.call(pipe, LOOKUP_FUNCTION, keys, [len(fields), *fields, *budgets, *groups])

    def claimed_buckets(self) -> list[int]:
        """The buckets in which this lookup may have claimed (for a release after a lost reply)."""
        return [group[0].bucket for _, group in self.groups if any(e in self.claims for e in group)]

    def result(self, trip: RoundTrip) -> LookupResult:
        """What was found (raises LedgerUnavailable). Reloads lost code and asks again, once."""
        if self._error is not None:
            raise self._error
        replies = trip.replies(*self._span)
        if any(isinstance(r, Exception) and _code_missing(r) for r in replies):
            self.ledger._use_function = None  # Redis lost our code: load it, ask again alone
            self.ledger.ensure_code()
            again = RoundTrip(self.ledger.client)
            start = again.mark()
            self._queue(again.pipe)
            replies = again.replies(start, again.mark())
        for reply in replies:
            if isinstance(reply, Exception):
                raise LedgerUnavailable(str(reply))
        out = LookupResult({kind: {} for kind in self.kinds}, token=self.token)
        for (kind, group), reply in zip(self.groups, replies, strict=True):
            for entry, hit in zip(group, reply, strict=True):
                if hit:
                    match = Match.from_value(entry, self.days[int(hit[0]) - 1], int(hit[1]))
                    out.found[kind][entry] = match
                    if len(hit) > 2 and int(hit[2]):
                        out.claimed.append(match)
        return out
