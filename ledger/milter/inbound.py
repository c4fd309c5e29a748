"""Inbound milter: refuse backscatter at the MX during the SMTP transaction.

Ordinary mail is accepted at end of headers, before a single body byte is
sent to us. A candidate's body is kept up to ``inbound.max_bytes``; past that
it is only fed to a stream scanner (constant memory) that looks for the
returned message's Message-ID, until the scan is done or ``inbound.scan_bytes``
is reached, and then the MTA is told to skip the rest. The verdict is given at
end of DATA, so a sender-verification callout (which stops after RCPT) never
sees one.

Memory: a session keeps at most ``inbound.max_bytes`` of header fields (name
and value bytes; the rest is counted and screened but not kept, and the parser
never reads further than that anyway) and ``inbound.max_bytes`` of body. Both
are dropped at the next MAIL FROM, at ``abort()`` and at ``close()``, and the
milter object holds no reference to itself, so what a session used is freed
when the session ends, not at the next full garbage collection: a milter lives
for months and sees hundreds of thousands of sessions.

Round trips: an ordinary message costs none. A candidate costs one at end of
message: the inspector's lookup (with the budget claim in the same call) and
the catching-up flag, plus the bookkeeping (log entries, counters) that
earlier decisions left pending, all on one pipeline (``ledger.trip``).

Built by :func:`make_inbound`: the collaborators are arguments, so two
milters in one process (tests, a worker each) share nothing by accident.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import Milter

from ledger.check import Candidate, Envelope, Screener
from ledger.check.stream import Scanner
from ledger.decide import REJECT, TEMPFAIL, Decision, internal_error, ordinary
from ledger.observe import Observer
from ledger.verdict import Inspector, log_decision

log = logging.getLogger("sender-ledger.inbound")


TRACE_HEADER = "X-Sender-Ledger"


def make_inbound(inspector: Inspector, observer: Observer | None = None,
                 trace_header: str = TRACE_HEADER) -> Callable[[], InboundMilter]:
    """A zero-argument factory for pymilter (``Milter.factory``): one milter per SMTP connection."""
    observer = observer or Observer()

    def factory() -> InboundMilter:
        return InboundMilter(inspector, observer, trace_header)
    return factory


class InboundMilter(Milter.Base):
    def __init__(self, inspector: Inspector, observer: Observer, trace_header: str = TRACE_HEADER) -> None:
        self.inspector = inspector
        self.observer = observer
        self.trace_header = trace_header
        self._trace_name = trace_header.lower()  # compared with every header field's name
        self.client = ""
        self._reset("")

    def _reset(self, mail_from: str) -> None:
        """Start a message: everything the last one kept is dropped here."""
        self.envelope = Envelope(mail_from=mail_from.strip("<>"), client=self.client)
        self.screener = Screener(self.envelope.mail_from)
        self.headers: list[tuple[str, bytes]] = []
        self.head_kept = 0  # bytes of header fields in self.headers
        self.head_size = 0  # bytes of header fields received, kept or not
        self.body_chunks: list[bytes] = []
        self.body_size = 0
        self.scanner: Scanner | None = None
        self.candidate: Candidate | None = None
        self.trace_headers_seen = 0

    def abort(self) -> int:
        # The MTA dropped the message (RSET, a lost client): its buffers go now.
        self._reset("")
        return Milter.CONTINUE

    def close(self) -> int:
        self._reset("")
        return Milter.CONTINUE

    @Milter.noreply
    def connect(self, hostname: str, family: int, hostaddr: object) -> int:
        address = hostaddr[0] if isinstance(hostaddr, tuple) and hostaddr else "?"
        self.client = f"{hostname}[{address}]"
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mail_from: str, *params: str) -> int:
        self._reset(mail_from)
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, rcpt: str, *params: str) -> int:
        self.envelope.recipients.append(rcpt.strip("<>"))
        return Milter.CONTINUE

    def data(self) -> int:
        # Defined on purpose: without it an inet socket stalls 40 ms per message.
        return Milter.CONTINUE

    def header_bytes(self, name: str, value: bytes) -> int:
        # pymilter's own header_bytes, for @Milter.decode("bytes"), stores the bound
        # method self.header on self: a reference cycle that keeps every session's
        # buffers alive until a full garbage collection. This one passes bytes on.
        return self.header(name, value)

    @Milter.noreply
    def header(self, name: str, value: bytes) -> int:
        if not self.screener.done:  # a strong marker decides: no more decoding
            self.screener.feed(name, value.decode("utf-8", "replace"))
        size = len(name) + len(value) + 4  # as _raw_message writes it
        self.head_size += size
        if self.head_kept + size <= self.inspector.max_bytes:
            self.headers.append((name, value))
            self.head_kept += size
        if name.lower() == self._trace_name:
            self.trace_headers_seen += 1
        return Milter.CONTINUE

    def eoh(self) -> int:
        started = time.perf_counter()
        self.candidate = self.screener.result()
        if self.candidate is None:
            self.envelope.queue_id = self.getsymval("i") or ""
            log_decision(self.envelope, ordinary())
            self.observer.ordinary(time.perf_counter() - started)
            return Milter.ACCEPT
        return Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        room = self.inspector.max_bytes - self.body_size
        if room > 0:
            self.body_chunks.append(chunk[:room])
        self.body_size += len(chunk)
        if self.body_size < self.inspector.max_bytes:
            return Milter.CONTINUE
        if self.scanner is None:
            # Past the parse cap: the scan starts from the first byte, then only streams.
            self.scanner = self.inspector.scanner()
            self.scanner.feed(self._raw_message())
            self.scanner.feed(chunk[max(room, 0):])
        else:
            self.scanner.feed(chunk)
        if self.scanner.done and getattr(self, "_protocol", 0) & Milter.P_SKIP:
            # Enough read: a bounce returning a 20 MB original need not cross the socket.
            return Milter.SKIP
        return Milter.CONTINUE

    def _raw_message(self) -> bytes:
        head = b"".join(n.encode("ascii", "replace") + b": " + v + b"\r\n" for n, v in self.headers)
        return head + b"\r\n" + b"".join(self.body_chunks)

    def _decide(self) -> Decision:
        """Read the message, then one round trip: lookup and claim, flag, pending bookkeeping."""
        # claim=True: an accepted bounce takes its unit of the original's budget
        # atomically, in the lookup itself (two racing bounces cannot both take the last).
        work = self.inspector.prepare(self.envelope, self._raw_message(), self.candidate,
                                      self.scanner, claim=True,
                                      headers_cut=self.head_size > self.head_kept)
        if isinstance(work, Decision):
            return work
        trip = self.inspector.trip()
        work.queue(trip)
        self.observer.ride(trip)  # earlier decisions' log entries and counters go along
        trip.run()
        return work.decide()

    def eom(self) -> int:
        started = time.perf_counter()
        self.envelope.queue_id = self.getsymval("i") or ""
        try:
            decision = self._decide()
        except Exception:  # our bug must never cost a real bounce: tempfail
            log.exception("qid=%s inspection failed", self.envelope.queue_id)
            decision = internal_error()
        log_decision(self.envelope, decision)
        # The log entry and counters go to the observer's bookkeeper: they ride on the
        # next message's round trip (or the thread writes them); this answer never waits.
        self.observer.decided(self.envelope, decision, time.perf_counter() - started)
        if decision.reply is not None and decision.action in (REJECT, TEMPFAIL):
            code, xcode, text = decision.reply
            self.setreply(code, xcode, text)
            return Milter.REJECT if decision.action == REJECT else Milter.TEMPFAIL
        try:
            # Forged trace headers must not survive: remove them, then add ours.
            for index in range(self.trace_headers_seen, 0, -1):
                self.chgheader(self.trace_header, index, "")
            if decision.trace:
                self.addheader(self.trace_header, decision.trace)
        except Exception:
            log.exception("qid=%s could not edit headers", self.envelope.queue_id)
        return Milter.ACCEPT
