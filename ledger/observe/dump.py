"""Export and import the ledger as JSON lines (backup, or moving to another Redis).

The first line is a header; every other line is one entry::

    {"format": "sender-ledger-export", "version": 1, "namespace": "sl", "bucket_bits": 6,
     "lifetime_days": 30, "secret_check": "...", "exported": "2026-11-27 08:00:00"}
    {"kind": "m", "bucket": 42, "day": 20419, "field": "9f2c...", "value": 129}

That is all a ledger entry is (keyed hashes, no plaintext), so the file is as
sensitive as the ledger itself and no more. ``secret_check`` is a hash of a
fixed string under the site secret: importing under another secret (whose
lookups could never match these entries) or another ``bucket_bits`` is refused.

Import writes with HSETNX and sets each key's expiry from its day and the
importing site's ``lifetime_days``, so importing the same file twice changes
nothing, and entries already past their lifetime are skipped.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import redis

from ledger.errors import LedgerUnavailable
from ledger.hashing import Hasher
from ledger.observe.inventory import KINDS, batches, day_keys
from ledger.observe.timefmt import stamp
from ledger.store import Ledger

FORMAT = "sender-ledger-export"
VERSION = 1
BATCH = 1000
FIELD_BYTES = 8


class DumpError(Exception):
    """A line of an export cannot be imported; the message names the line."""


def secret_check(hasher: Hasher) -> str:
    return hasher.message("sender-ledger export check", "").hex()


def header(ledger: Ledger, hasher: Hasher) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "namespace": ledger.namespace,
        "bucket_bits": hasher.bucket_bits,
        "lifetime_days": ledger.lifetime_days,
        "secret_check": secret_check(hasher),
        "exported": stamp(time.time()),
    }


def export_lines(ledger: Ledger, hasher: Hasher) -> Iterator[str]:
    """The header, then one JSON line per entry of every kind."""
    yield json.dumps(header(ledger, hasher))
    try:
        for batch in batches(day_keys(ledger, KINDS)):
            pipe = ledger.client.pipeline(transaction=False)
            for dk in batch:
                pipe.hgetall(dk.key)
            for dk, fields in zip(batch, pipe.execute(), strict=True):
                for name, value in sorted(fields.items()):
                    yield json.dumps({"kind": dk.kind, "bucket": dk.bucket, "day": dk.day,
                                      "field": name.hex(), "value": int(value)})
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc


@dataclass(frozen=True)
class Entry:
    kind: str
    bucket: int
    day: int
    field: bytes
    value: int


@dataclass
class ImportResult:
    read: int = 0
    added: int = 0
    present: int = 0
    expired: int = 0


def _int(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DumpError(f"{where}: '{name}' must be a non-negative integer")
    return value


def parse_entry(obj: Any, bucket_bits: int, where: str) -> Entry:
    if not isinstance(obj, dict):
        raise DumpError(f"{where}: not a JSON object")
    kind = obj.get("kind")
    if kind not in {k.decode() for k in KINDS}:
        raise DumpError(f"{where}: unknown kind {kind!r}")
    bucket = _int(obj, "bucket", where)
    if bucket >= 1 << bucket_bits:
        raise DumpError(f"{where}: bucket {bucket} does not fit bucket_bits={bucket_bits}")
    try:
        field = bytes.fromhex(str(obj.get("field")))
    except ValueError:
        field = b""
    if len(field) != FIELD_BYTES:
        raise DumpError(f"{where}: 'field' must be {FIELD_BYTES * 2} hex digits")
    value = _int(obj, "value", where)
    if value == 0:
        raise DumpError(f"{where}: 'value' must be at least 1")
    return Entry(kind, bucket, _int(obj, "day", where), field, value)


def check_header(obj: dict[str, Any], hasher: Hasher, where: str) -> None:
    if obj.get("format") != FORMAT or obj.get("version") != VERSION:
        raise DumpError(f"{where}: not a {FORMAT} version {VERSION} header")
    if obj.get("bucket_bits") != hasher.bucket_bits:
        raise DumpError(f"{where}: exported with bucket_bits={obj.get('bucket_bits')}, "
                        f"this site uses {hasher.bucket_bits}: its entries could never be found")
    if obj.get("secret_check") != secret_check(hasher):
        raise DumpError(f"{where}: exported under another site secret: its entries could never match")


def read_entries(lines: Iterable[str], hasher: Hasher, name: str) -> Iterator[Entry]:
    """Entries of an export; a header (optional, first line) is checked against this site."""
    for number, line in enumerate(lines, 1):
        where = f"{name}:{number}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise DumpError(f"{where}: not a JSON line") from None
        if isinstance(obj, dict) and "format" in obj:
            if number != 1:
                raise DumpError(f"{where}: a header is only allowed on the first line")
            check_header(obj, hasher, where)
            continue
        yield parse_entry(obj, hasher.bucket_bits, where)


def import_entries(ledger: Ledger, entries: Iterable[Entry], now: float | None = None) -> ImportResult:
    """Restore entries (HSETNX + EXPIREAT, pipelined); idempotent."""
    now = time.time() if now is None else now
    result = ImportResult()
    batch: list[Entry] = []

    def flush() -> None:
        by_key: dict[tuple[str, int], list[Entry]] = defaultdict(list)
        for entry in batch:
            by_key[(ledger.key(entry.bucket, entry.day, entry.kind.encode()), entry.day)].append(entry)
        pipe = ledger.client.pipeline(transaction=False)
        for (key, day), group in by_key.items():
            for entry in group:
                pipe.hsetnx(key, entry.field, entry.value)
            pipe.expireat(key, ledger.expires_at(day))
        confirm = ledger.queue_confirmation(pipe)
        replies_list = pipe.execute()
        if confirm:
            ledger.check_confirmed(replies_list[-1])  # an unconfirmed batch is not imported
        replies = iter(replies_list)
        for group in by_key.values():
            added = sum(int(next(replies)) for _ in group)
            next(replies)
            result.added += added
            result.present += len(group) - added
        batch.clear()

    try:
        for entry in entries:
            result.read += 1
            if ledger.expires_at(entry.day) <= now:
                result.expired += 1
                continue
            batch.append(entry)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    except redis.RedisError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    return result


def import_file(ledger: Ledger, hasher: Hasher, fh: TextIO, name: str) -> ImportResult:
    return import_entries(ledger, read_entries(fh, hasher, name))
