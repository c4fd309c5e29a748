"""Join the Postfix log events of one queue id into a message to record.

The one place that decides what a mail log says was sent: ``backfill`` (old
logs, in one go) and ``follow`` (live logs, as they are written) both feed
their events here and record what comes out, so their rules cannot drift.

Per queue id::

    smtpd "client=" / pickup "uid= from="   where it came in (must be an outbound service)
    cleanup "message-id=<...>"              the Message-ID
    qmgr "from=<...>, nrcpt=N"              envelope sender and recipient count
    delivery agents "to=<...>"              recipients (alias expansion may add some)
    qmgr "removed"                          lifecycle over: settle it, forget the queue id

When a message is ready:

* at ``removed`` (always; backfill only uses this), or when the logs end;
* with ``early`` (follow): as soon as the origin, Message-ID and qmgr
  ``from=`` are in and a ``to=`` line was logged for each of the ``nrcpt``
  recipients (a deferred recipient logs ``to=`` too, so a message waiting in
  the queue is recorded at its first delivery attempt, not days later). The
  queue id is kept until ``removed``: if alias expansion added recipients by
  then, the message is handed out once more with ``again`` set (the ledger
  is idempotent; only the new pairs are new).

Invariants and costs: memory is bounded by the messages in flight, never by
the log (at most ``max_pending`` queue ids; past that the oldest is settled
early, as at the end of the logs). :meth:`Assembler.expire` settles queue ids
not seen for a while (a follower's stale ones). Each event is O(1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ledger import msgid
from ledger.match import RECIPIENT_CAP
from ledger.ops import postfix_log as plog
from ledger.record import SentMessage

MAX_PENDING = 200_000  # queue ids in flight; past this the oldest are settled early


@dataclass
class Tally:
    """How many messages were settled and why the skipped ones were."""

    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass
class _Pending:
    day: int
    mark: object = None  # where its first line was read (follow: to resume after a restart)
    seen: float = 0.0  # when its last line was read (follow: stale expiry)
    origin: str | None = None
    message_id: str | None = None
    mail_from: str | None = None
    nrcpt: int = 0
    recipients: set[str] = field(default_factory=set)
    done: bool = False  # settled early (recorded or skipped); kept only to absorb its later lines
    handed: int = 0  # recipients it was handed out with


@dataclass(frozen=True)
class Ready:
    """A message to record, as the outbound milter would have seen it."""

    sent: SentMessage
    day: int  # UTC day of its first log line
    recipients: int  # the count the entry stores: max(nrcpt, to= lines seen, 1)
    at_end: bool  # settled before its "removed" line (end of logs, memory bound, expiry)
    again: bool = False  # handed out before, now with more recipients


class Assembler:
    """Feed it events in log order; it calls ``sink`` with each message to record."""

    def __init__(self, outbound_services: Iterable[str], sink: Callable[[Ready], None],
                 tally: Tally | None = None, early: bool = False,
                 max_pending: int = MAX_PENDING) -> None:
        self.outbound = frozenset(outbound_services)
        self.sink = sink
        self.tally = tally if tally is not None else Tally()
        self.early = early
        self.max_pending = max_pending
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def apply(self, event: plog.Event, mark: object = None, now: float = 0.0) -> None:
        """One event; ``mark`` says where it was read, ``now`` when (both for follow)."""
        kind = event.kind
        if kind == plog.MALFORMED:
            return
        state = self._pending.get(event.qid)
        if kind == plog.ORIGIN:
            if state is not None:  # the queue id was reused: settle the old message first
                self._settle(event.qid, at_end=True)
            self._pending[event.qid] = _Pending(day=event.day, mark=mark, seen=now, origin=event.prog)
            self._bound()
            return
        if state is None:
            if kind in (plog.REMOVED, plog.DELIVERY):
                return
            state = self._pending[event.qid] = _Pending(day=event.day, mark=mark, seen=now)
            self._bound()
        state.seen = now
        if kind == plog.MESSAGE_ID:
            if state.message_id is None:
                state.message_id = event.value
        elif kind == plog.QUEUED:
            state.mail_from = event.value
            state.nrcpt = max(state.nrcpt, event.count)
        elif kind == plog.DELIVERY:
            if len(state.recipients) < RECIPIENT_CAP:
                state.recipients.add(event.value.lower())
        elif kind == plog.REFUSED:
            del self._pending[event.qid]
            if not state.done:
                self.tally.messages += 1
                self.tally.skipped[f"refused before queueing ({event.value})"] += 1
            return
        elif kind == plog.REMOVED:
            self._settle(event.qid, at_end=False)
            return
        if self.early and not state.done and state.mail_from is not None \
                and 0 < state.nrcpt <= len(state.recipients) and state.message_id is not None:
            self._finish(state, at_end=False)

    def finish(self) -> None:
        """The logs ended: settle every queue id still in flight."""
        for qid in list(self._pending):
            self._settle(qid, at_end=True)

    def expire(self, before: float) -> int:
        """Settle queue ids whose last line was read before ``before``; returns how many."""
        stale = [qid for qid, state in self._pending.items() if state.seen < before]
        for qid in stale:
            self._settle(qid, at_end=True)
        return len(stale)

    def oldest_mark(self) -> object:
        """The mark of the first line of the oldest message not yet settled (None: none is)."""
        for state in self._pending.values():  # insertion order: the oldest first
            if not state.done:
                return state.mark
        return None

    def _bound(self) -> None:
        while len(self._pending) > self.max_pending:
            self._settle(next(iter(self._pending)), at_end=True)

    def _settle(self, qid: str, at_end: bool) -> None:
        """The message's lifecycle is over (or the log is): record it or say why not."""
        state = self._pending.pop(qid)
        if not state.done:
            self._finish(state, at_end)
        elif state.handed and len(state.recipients) > state.handed:
            self.sink(self._ready(state, at_end, again=True))

    def _finish(self, state: _Pending, at_end: bool) -> None:
        state.done = True
        self.tally.messages += 1
        reason = self._unrecordable(state, at_end)
        if reason is not None:
            self.tally.skipped[reason] += 1
            return
        state.handed = len(state.recipients)
        self.sink(self._ready(state, at_end))

    def _unrecordable(self, state: _Pending, at_end: bool) -> str | None:
        if state.mail_from == "":
            return "null sender (a bounce or notification of our own)"
        if state.origin is None:
            return "no origin line (made by Postfix itself, or logged before the first file)"
        if state.origin not in self.outbound:
            return f"came in through {state.origin} (not an outbound service)"
        if state.mail_from is None:
            return "never queued: no qmgr from= line" + (" by the end of the logs" if at_end else "")
        if state.message_id is None:
            return "no message-id= line"
        if msgid.normalise(state.message_id) is None:
            return "unusable Message-ID"
        return None

    @staticmethod
    def _ready(state: _Pending, at_end: bool, again: bool = False) -> Ready:
        sent = SentMessage(mail_from=state.mail_from or "", recipients=sorted(state.recipients),
                           message_id=state.message_id)
        return Ready(sent, state.day, max(state.nrcpt, len(state.recipients), 1), at_end, again)
