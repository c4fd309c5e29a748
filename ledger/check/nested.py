"""One test of "is this header section a bounce's", for every path that meets one.

A returned original can itself be a bounce (a bounce of a bounce, a relay's
notice wrapping a DSN), and then the message inside it is what counts. The
attached-part path (``extract``), the quoted-block path (``quoted``) and the
stream scan (``stream``) all ask :func:`is_bounce_section`, so they cannot
disagree about the same header section.

Invariant: a daemon-like ``From`` alone is *not* a bounce. Our own
postmaster@, mailer@ or bounces@ send ordinary mail too (quota warnings,
statements), and when it bounces its returned header block is the original.
A bounce needs a null ``Return-Path``, a ``multipart/report`` type, an
``Auto-Submitted`` other than ``no``, or a daemon ``From`` *with* a bounce
subject. The first three but ``Auto-Submitted`` make it a *report*, whose own
Message-ID is never a reference unless one of our non-null addresses sent it;
an ``Auto-Submitted``-only notice's own ID is the reference when nothing is
found inside it (it may be our autoreply or our ticket system's mail).
Costs: a few dictionary lookups and at most one regex search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ledger import addresses
from ledger.check.patterns import BOUNCE_SUBJECT, auto_submitted, is_daemon_localpart

Getter = Callable[[str], str | None]

# Words of a daemon's display name when the From carries no address at all
# ("MAILER-DAEMON (Mail Delivery System)").
_DAEMON_HINTS = ("daemon", "postmaster", "mailer", "mmdf", "bounce", "delivery", "returned", "admin",
                 "gateway")


_SEPARATORS = str.maketrans("", "", "-_.")


def _daemon_from(value: str) -> bool:
    lowered = value.lower()
    squashed = lowered.translate(_SEPARATORS)
    if not any(hint in squashed for hint in _DAEMON_HINTS):
        return False  # the common case, without parsing addresses (every daemon name has a hint)
    senders = addresses.from_header(value)
    if senders:
        return any(is_daemon_localpart(addresses.local_part(a)) for a in senders)
    return "@" not in lowered


def is_report_section(get: Getter, subject_text: Callable[[str], str] = str) -> bool:
    """True for the header section of a delivery report: a null ``Return-Path``, a
    ``multipart/report`` type, or a daemon ``From`` with a bounce subject.

    ``get`` returns a field's value by lower-case name (None if absent);
    ``subject_text`` decodes RFC 2047 words of the subject when the caller
    has them encoded. A report's own Message-ID is never ours unless it was
    sent from one of our non-null addresses (:func:`sent_by`).
    """
    if (get("return-path") or "").replace(" ", "") == "<>":
        return True
    if (get("content-type") or "").strip().lower().startswith("multipart/report"):
        return True
    return _daemon_from(get("from") or "") and bool(BOUNCE_SUBJECT.search(subject_text(get("subject") or "")))


def is_bounce_section(get: Getter, subject_text: Callable[[str], str] = str) -> bool:
    """True for the header section of a bounce or another automatic notice: a report
    (:func:`is_report_section`) or a section with ``Auto-Submitted`` other than ``no``.

    An ``Auto-Submitted`` notice with a real sender (an autoreply, a ticket
    system's mail) may be a message of ours: when nothing is found inside it,
    its own Message-ID is the reference (the callers do that).
    """
    if auto_submitted(get("auto-submitted")) not in ("", "no"):
        return True
    return is_report_section(get, subject_text)


def sent_by(get: Getter, ours: Iterable[str]) -> bool:
    """True when the section's sender (Return-Path, From or Sender) is one of ``ours``.

    A returned notice sent from one of our non-null addresses (an MDN, an
    autoreply of our user) went through our outbound side, so its own
    Message-ID is a reference too (a bounce of it names it).
    """
    wanted = {addresses.normalise(a) for a in ours} - {addresses.NULL_SENDER}
    if not wanted:
        return False
    path = (get("return-path") or "").strip()
    if path.replace(" ", "") == "<>":
        return False
    found = set(addresses.from_header(path)) if path else set()
    found.update(addresses.from_header(get("from")))
    found.update(addresses.from_header(get("sender")))
    return bool(found & wanted)
