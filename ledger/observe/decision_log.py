"""The decision log: a capped, expiring Redis stream of inbound decisions.

``<namespace>:{obs}:log`` holds one entry per candidate decision, written by
the inbound milter after its verdict (``XADD ... MAXLEN ~ observe.log_entries``,
older than ``observe.log_days`` trimmed, the key expiring when idle that
long). ``sender-ledger log`` reads it newest first.

Envelope addresses are personal data and the ledger itself holds none, so by
default they are not stored as such (``observe.log_addresses``):

* ``domain`` (default): ``h:<keyed hash of the local part>@domain``;
* ``hash``: ``h:<keyed hash of the whole address>``;
* ``full``: the address itself.

The hash is keyed with the site secret: it cannot be reversed or guessed
without the secret, yet ``sender-ledger log --address ADDR`` can compute it
and find one address's decisions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import redis
import xxhash
from redis.client import Pipeline

from ledger import addresses
from ledger.check import Envelope
from ledger.decide import Decision
from ledger.observe.classify import outcome

HASH_PREFIX = "h:"
# An address quoted in a reason text: masked like the envelope's, should a reason ever name one.
ADDRESS = re.compile(r"[^\s,;()<>\"']+@[^\s,;()<>\"']+")
PAGE = 200


def log_key(namespace: str) -> str:
    return f"{namespace}:{{obs}}:log"


class AddressMasker:
    """Turns an envelope address into what the log keeps of it."""

    def __init__(self, secret: bytes, mode: str) -> None:
        self._prefix = b"sender-ledger-log\x00" + secret + b"\x00"
        self.mode = mode

    def _hash(self, text: str) -> str:
        digest = xxhash.xxh3_64_hexdigest(self._prefix + text.encode("utf-8", "surrogateescape"))
        return HASH_PREFIX + digest[:12]

    def mask(self, address: str) -> str:
        norm = addresses.normalise(address)
        if not norm or self.mode == "full":
            return norm
        if self.mode == "hash" or "@" not in norm:
            return self._hash(norm)
        local, domain = norm.rsplit("@", 1)
        return f"{self._hash(local)}@{domain}"


@dataclass(frozen=True)
class LogEntry:
    """One decision as the log keeps it."""

    id: str
    time: float
    queue_id: str
    client: str
    mail_from: str
    recipients: tuple[str, ...]
    kind: str
    action: str
    reason: str
    matched: bool
    references: int
    cause: str = ""
    # reject mode would have answered 550 (``Decision.would_reject``); entries written before
    # the field existed count their own refusals only
    would_reject: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": round(self.time, 3),
            "queue_id": self.queue_id,
            "client": self.client,
            "mail_from": self.mail_from,
            "recipients": list(self.recipients),
            "kind": self.kind,
            "action": self.action,
            "reason": self.reason,
            "cause": self.cause,
            "matched": self.matched,
            "references": self.references,
            "would_reject": self.would_reject,
        }


def entry_fields(envelope: Envelope, decision: Decision, masker: AddressMasker) -> dict[str, str]:
    return {
        "q": envelope.queue_id or "",
        "c": envelope.client or "",
        "f": masker.mask(envelope.mail_from),
        "r": ",".join(masker.mask(r) for r in envelope.recipients),
        "k": decision.kind or "",
        "a": outcome(decision),
        # the envelope check's reason names the address that bounced: masked like the envelope
        "why": ADDRESS.sub(lambda found: masker.mask(found.group()), decision.reason)[:300],
        "cs": str(decision.cause),
        "m": "1" if decision.matched else "0",
        "n": str(len(decision.references)),
        "wr": "1" if decision.would_reject else "0",
    }


def queue_entry(pipe: Pipeline, namespace: str, fields: dict[str, str], max_entries: int,
                keep_days: int, now: float) -> None:
    """Queue the XADD (capped), the age trim and the idle expiry on ``pipe``."""
    key = log_key(namespace)
    pipe.xadd(key, fields, maxlen=max_entries, approximate=True)  # type: ignore[arg-type]
    pipe.xtrim(key, minid=str(int((now - keep_days * 86400) * 1000)), approximate=True)
    pipe.expire(key, keep_days * 86400)


def _entry(stream_id: bytes, raw: dict[bytes, bytes]) -> LogEntry:
    def get(name: str) -> str:
        return raw.get(name.encode(), b"").decode("utf-8", "replace")

    ident = stream_id.decode()
    names = {k.decode("utf-8", "replace") for k in raw}
    rcpts = get("r")
    return LogEntry(
        id=ident,
        time=int(ident.split("-", 1)[0]) / 1000,
        queue_id=get("q"),
        client=get("c"),
        mail_from=get("f"),
        recipients=tuple(r for r in rcpts.split(",") if r),
        kind=get("k"),
        action=get("a"),
        reason=get("why"),
        matched=get("m") == "1",
        references=int(get("n") or 0),
        cause=get("cs"),
        would_reject=get("wr") == "1" if "wr" in names else get("a") == "reject",
    )


def read(
    client: redis.Redis,
    namespace: str,
    *,
    limit: int = 20,
    since: float | None = None,
    actions: frozenset[str] = frozenset(),
    address: str | None = None,
) -> list[LogEntry]:
    """The newest ``limit`` entries at or after ``since`` matching the filters, newest first.

    ``address`` is compared in its stored (masked) form.
    """
    key = log_key(namespace)
    low = "-" if since is None else str(int(since * 1000))
    high = "+"
    out: list[LogEntry] = []
    while len(out) < limit:
        page: list[tuple[bytes, dict[bytes, bytes]]] = client.xrevrange(  # type: ignore[assignment]
            key, max=high, min=low, count=PAGE)
        for stream_id, raw in page:
            entry = _entry(stream_id, raw)
            if actions and entry.action not in actions:
                continue
            if address is not None and address != entry.mail_from and address not in entry.recipients:
                continue
            out.append(entry)
            if len(out) >= limit:
                break
        if len(page) < PAGE:
            break
        high = "(" + page[-1][0].decode()
    return out


def pages(client: redis.Redis, namespace: str, since: float | None = None,
          page: int = PAGE) -> Iterator[list[LogEntry]]:
    """Every entry at or after ``since``, newest first, one list per round trip of ``page``."""
    key = log_key(namespace)
    low = "-" if since is None else str(int(since * 1000))
    high = "+"
    while True:
        raw: list[tuple[bytes, dict[bytes, bytes]]] = client.xrevrange(  # type: ignore[assignment]
            key, max=high, min=low, count=page)
        if raw:
            yield [_entry(stream_id, fields) for stream_id, fields in raw]
        if len(raw) < page:
            return
        high = "(" + raw[-1][0].decode()


def length(client: redis.Redis, namespace: str) -> int:
    """How many entries the log holds (all of them, whatever their age)."""
    return int(client.xlen(log_key(namespace)))  # type: ignore[arg-type]
