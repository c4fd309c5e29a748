"""Outbound milter: record every message the domain sends.

Sits on the submission path (``smtpd_milters`` of the submission service and
``non_smtpd_milters``). It reads the envelope and two headers, never the
body, and never rejects or delays mail over a ledger problem: a record the
ledger cannot take (Redis down, hung, failing over) is kept in the spool and
replayed later (ledger/spool.py); the log says "spooled", then the drainer
says "replayed N". Only if the spool cannot keep it either is it lost, and
the log says so.

Round trips: one per message, at end of message: the record (with ``WAIT``
when ``[redis] wait_replicas`` > 0) and the counters earlier messages left
pending (``Observer.ride``), on one pipeline.

Built by :func:`make_outbound`: the collaborators are arguments, not class
attributes.

Memory: a session keeps one SentMessage (the envelope, the first Message-ID and
From: values; Postfix bounds each header field and the recipient count), dropped
at the next MAIL FROM, at ``abort()`` and at ``close()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import Milter

from ledger import addresses, msgid
from ledger.errors import LedgerUnavailable
from ledger.observe import Observer
from ledger.observe.observer import ERROR, FAILED, RECORDED, SKIPPED, SPOOLED
from ledger.record import Recorder, SentMessage, SpoolFailed
from ledger.trip import RoundTrip

log = logging.getLogger("sender-ledger.outbound")


def make_outbound(recorder: Recorder, observer: Observer | None = None,
                  message_id_domain: str = "localhost",
                  on_spooled: Callable[[], None] | None = None) -> Callable[[], OutboundMilter]:
    """A zero-argument factory for pymilter; ``on_spooled`` wakes the spool drainer."""
    observer = observer or Observer()

    def factory() -> OutboundMilter:
        return OutboundMilter(recorder, observer, message_id_domain, on_spooled)
    return factory


class OutboundMilter(Milter.Base):
    def __init__(self, recorder: Recorder, observer: Observer, message_id_domain: str = "localhost",
                 on_spooled: Callable[[], None] | None = None) -> None:
        self.recorder = recorder
        self.observer = observer
        self.message_id_domain = message_id_domain
        self.on_spooled = on_spooled
        self.sent = SentMessage(mail_from="")

    def abort(self) -> int:
        self.sent = SentMessage(mail_from="")
        return Milter.CONTINUE

    def close(self) -> int:
        self.sent = SentMessage(mail_from="")
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mail_from: str, *params: str) -> int:
        # XVERP (Postfix): each recipient's copy leaves with its own VERP sender, and its
        # bounce comes back to that address; record the message for each of them too.
        self.sent = SentMessage(mail_from=mail_from, verp=addresses.xverp_delimiters(params))
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, rcpt: str, *params: str) -> int:
        self.sent.recipients.append(rcpt)
        return Milter.CONTINUE

    def data(self) -> int:
        # Defined on purpose: without it an inet socket stalls 40 ms per message.
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name: str, value: str) -> int:
        lname = name.lower()
        if lname == "message-id" and self.sent.message_id is None:
            self.sent.message_id = value
        elif lname == "from" and self.sent.from_header is None:
            self.sent.from_header = value
        return Milter.CONTINUE

    def eom(self) -> int:
        queue_id = self.getsymval("i") or "-"
        started = time.perf_counter()
        outcome = ERROR
        try:
            if msgid.normalise(self.sent.message_id) is None:
                self.sent.message_id = msgid.generate(self.message_id_domain)
                self.addheader("Message-ID", self.sent.message_id)
                log.info("qid=%s added Message-ID %s", queue_id, self.sent.message_id)
            # One round trip: the record, and the counters earlier messages left pending.
            trip = RoundTrip(self.recorder.ledger.client)
            self.observer.ride(trip)
            try:
                result = self.recorder.record(self.sent, trip=trip)
            finally:
                trip.run()  # the riders, if there was nothing to record (a null sender)
            if result.spooled is not None:
                outcome = SPOOLED
                log.warning("record qid=%s spooled: the ledger could not take it now (%s); "
                            "it is replayed when Redis answers", queue_id, result.spooled)
                if self.on_spooled is not None:
                    self.on_spooled()
            else:
                outcome = RECORDED if result.entries or result.pairs else SKIPPED
            log.info(
                "record qid=%s from=<%s> rcpts=%d entries=%d pairs=%d stored=%s reason=%r",
                queue_id, self.sent.mail_from.strip("<>"), len(self.sent.recipients),
                len(result.entries), len(result.pairs), "spool" if result.spooled else "ledger",
                result.reason,
            )
        except SpoolFailed as exc:
            outcome = FAILED
            log.error("record qid=%s LOST, mail sent unrecorded: the ledger and the spool both "
                      "refused it: %s", queue_id, exc)
        except LedgerUnavailable as exc:  # a recorder without a spool
            outcome = FAILED
            log.error("record qid=%s LOST, mail sent unrecorded: ledger unreachable and no spool: %s",
                      queue_id, exc)
        except Exception:  # never hold outgoing mail over our own bug
            log.exception("record qid=%s failed, mail sent unrecorded", queue_id)
        self.observer.recorded(outcome, time.perf_counter() - started)
        return Milter.ACCEPT
