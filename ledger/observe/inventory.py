"""Walk the ledger's day keys: how many entries per day, how much memory, purge.

Keys are found with SCAN over :meth:`Ledger.key_pattern` (never KEYS, which
would block Redis), HLEN'd in pipelined batches. Memory is the sum of
``MEMORY USAGE`` over every key when there are at most ``sample`` keys, else
measured on a uniform random sample of keys and scaled by entries.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

from ledger.errors import LedgerUnavailable
from ledger.hashing import MESSAGE, PAIR
from ledger.store import Ledger

KINDS = (MESSAGE, PAIR)
BATCH = 500


@dataclass(frozen=True)
class DayKey:
    """A parsed ledger key: ``<namespace>:{<bucket hex>}:<kind>:<day>``."""

    key: bytes
    bucket: int
    kind: str
    day: int


def parse_key(key: bytes) -> DayKey | None:
    """The parts of a ledger key, or None for a key of another shape."""
    try:
        head, kind, day = key.decode("ascii").rsplit(":", 2)
        open_, close = head.rindex("{"), head.rindex("}")
        if close != len(head) - 1:
            return None
        return DayKey(key, int(head[open_ + 1:close], 16), kind, int(day))
    except (ValueError, UnicodeDecodeError):
        return None


def day_keys(ledger: Ledger, kinds: tuple[bytes, ...] = KINDS) -> Iterator[DayKey]:
    """Every ledger day key of ``kinds`` (SCAN, so safe on a busy server)."""
    for kind in kinds:
        for key in ledger.client.scan_iter(match=ledger.key_pattern(kind), count=1000):
            parsed = parse_key(key)
            if parsed is not None and parsed.kind == kind.decode() and \
                    key.startswith(f"{ledger.namespace}:{{".encode()):
                yield parsed


def batches(keys: Iterator[DayKey], size: int = BATCH) -> Iterator[list[DayKey]]:
    batch: list[DayKey] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class DaySpread:
    day: int
    keys: int = 0
    entries: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class Inventory:
    """What the ledger holds, per sending day, and what it costs."""

    days: dict[int, DaySpread] = field(default_factory=dict)
    keys: int = 0
    entries: int = 0
    memory_bytes: int = 0
    memory_exact: bool = True
    sampled_keys: int = 0

    @property
    def bytes_per_entry(self) -> float:
        return self.memory_bytes / self.entries if self.entries else 0.0


def take_inventory(ledger: Ledger, sample: int = 1000, rng: random.Random | None = None) -> Inventory:
    """Count entries per day (SCAN + HLEN) and measure memory (MEMORY USAGE)."""
    rng = rng or random.Random()
    inv = Inventory()
    reservoir: list[tuple[DayKey, int]] = []
    client = ledger.client
    try:
        for batch in batches(day_keys(ledger)):
            pipe = client.pipeline(transaction=False)
            for dk in batch:
                pipe.hlen(dk.key)
            for dk, length in zip(batch, pipe.execute(), strict=True):
                length = int(length)
                if not length:
                    continue
                spread = inv.days.setdefault(dk.day, DaySpread(dk.day))
                spread.keys += 1
                spread.entries += length
                spread.by_kind[dk.kind] = spread.by_kind.get(dk.kind, 0) + length
                inv.keys += 1
                inv.entries += length
                # Reservoir sampling: each key ends up in the sample with equal chance.
                if len(reservoir) < sample:
                    reservoir.append((dk, length))
                else:
                    slot = rng.randrange(inv.keys)
                    if slot < sample:
                        reservoir[slot] = (dk, length)
        inv.sampled_keys = len(reservoir)
        inv.memory_exact = inv.keys <= sample
        used = 0
        sampled_entries = 0
        for chunk in (reservoir[i:i + BATCH] for i in range(0, len(reservoir), BATCH)):
            pipe = client.pipeline(transaction=False)
            for dk, _ in chunk:
                pipe.memory_usage(dk.key, samples=0)
            for (_, length), usage in zip(chunk, pipe.execute(), strict=True):
                if usage is not None:
                    used += int(usage)
                    sampled_entries += length
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    if inv.memory_exact:
        inv.memory_bytes = used
    elif sampled_entries:
        inv.memory_bytes = round(used / sampled_entries * inv.entries)
    return inv


def redis_used_memory(client: redis.Redis) -> int:
    """Redis' used_memory; on a Cluster, summed over the primaries (INFO goes to one node)."""
    try:
        if isinstance(client, RedisCluster):
            info = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
        else:
            info = client.info("memory")
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    if "used_memory" in info:
        return int(info["used_memory"])
    return sum(int(node.get("used_memory", 0)) for node in info.values() if isinstance(node, dict))


@dataclass
class PurgeResult:
    before_day: int
    keys: int = 0
    entries: int = 0
    days: list[int] = field(default_factory=list)


def purge(ledger: Ledger, before_day: int, dry_run: bool = False,
          on_batch: Callable[[int], None] | None = None) -> PurgeResult:
    """Delete (UNLINK) every ledger day key of a day before ``before_day``.

    ``on_batch(keys so far)`` is called after each batch (progress).
    """
    result = PurgeResult(before_day)
    days: set[int] = set()
    client = ledger.client
    try:
        for batch in batches(k for k in day_keys(ledger) if k.day < before_day):
            pipe = client.pipeline(transaction=False)
            for dk in batch:
                pipe.hlen(dk.key)
            lengths = pipe.execute()
            if not dry_run:
                client.unlink(*[dk.key for dk in batch])
            result.keys += len(batch)
            result.entries += sum(int(n) for n in lengths)
            days.update(dk.day for dk in batch)
            if on_batch is not None:
                on_batch(result.keys)
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    result.days = sorted(days)
    return result
