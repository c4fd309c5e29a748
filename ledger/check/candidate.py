"""Header-stage screening: is this message a backscatter candidate at all?

Runs at end of headers for every inbound message, before any body byte is
read, so it looks only at the envelope and the header fields and uses
precompiled patterns (ledger.check.patterns). Ordinary mail (a real sender
and no report, autoreply, notice or challenge marker) returns None and is
accepted at once by the inbound milter; everything else goes on to the
detectors. A candidate is not a verdict: the body decides what it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger import addresses
from ledger.check.message import header_text
from ledger.check.patterns import (
    AUTOREPLY_SUBJECT,
    CHALLENGE_HEADERS,
    CHALLENGE_SUBJECT,
    HUMAN_PREFIX,
    LIST_MANAGER_HEADERS,
    LIST_NOTICE_SUBJECT,
    NOT_VIRUS_SUBJECT,
    NOTICE_LOCALPARTS,
    SUBSCRIPTION_SUBJECT,
    VIRUS_SUBJECT,
    auto_submitted,
    bounce_subject,
    is_autoreply_header,
    is_daemon_localpart,
    list_manager_address,
)

_TMDA_AGENT = "tmda"


@dataclass(frozen=True)
class Candidate:
    """Why a message is a backscatter candidate (the first marker seen)."""

    marker: str


def _subject_marker(subject: str, from_daemon: bool, from_notice: bool, from_list: bool) -> str | None:
    bounce = bounce_subject(subject)
    if from_daemon and bounce:
        return "MAILER-DAEMON/postmaster From with a bounce subject"
    if bounce and not from_list and not HUMAN_PREFIX.match(subject):
        return "bounce subject"  # any From but a list's: a detector must still recognise the body
    if from_list and LIST_NOTICE_SUBJECT.search(subject):
        return "list manager notice about a post"
    if AUTOREPLY_SUBJECT.search(subject):
        return "autoreply subject"
    if HUMAN_PREFIX.match(subject):
        return "From a scanner or challenge/response system" if from_notice else None
    if VIRUS_SUBJECT.search(subject) and not NOT_VIRUS_SUBJECT.search(subject):
        return "virus notice subject"
    if CHALLENGE_SUBJECT.search(subject):
        return "challenge subject"
    if SUBSCRIPTION_SUBJECT.search(subject):
        return "subscription confirmation subject"
    if from_notice:
        return "From a scanner or challenge/response system"
    return None


class Screener:
    """:func:`screen`, fed one header field at a time, in constant memory.

    The inbound milter feeds every field as it arrives and keeps only a bounded
    part of the header block for the parser, so a header block of any size is
    screened whole. State: the first decisive marker, the last ``Subject:`` and
    what the last ``From:`` (and any list-manager field) said.
    """

    def __init__(self, mail_from: str) -> None:
        null = addresses.normalise(mail_from) == addresses.NULL_SENDER
        self.found: Candidate | None = Candidate("null sender") if null else None
        self.subject = ""
        self.from_daemon = self.from_notice = self.from_list = False

    def feed(self, name: str, value: str) -> None:
        if self.found is None:
            self.found = self._marker(name, value)

    def _marker(self, name: str, value: str) -> Candidate | None:
        lname = name.lower()
        if lname == "content-type":
            if value.strip().lower().startswith("multipart/report"):
                return Candidate("multipart/report")
        elif lname == "auto-submitted":
            token = auto_submitted(value)
            if token not in ("", "no"):
                return Candidate(f"Auto-Submitted: {token[:40]}")
        elif lname == "from":
            senders = addresses.from_header(value)
            parts = [addresses.local_part(a) for a in senders]
            self.from_daemon = any(is_daemon_localpart(p) for p in parts)
            self.from_notice = any(p in NOTICE_LOCALPARTS for p in parts)
            self.from_list = self.from_list or any(list_manager_address(a) for a in senders)
        elif lname == "subject":
            self.subject = value
        elif lname in CHALLENGE_HEADERS:
            return Candidate(f"{name} header")
        elif lname in LIST_MANAGER_HEADERS:
            self.from_list = True
        elif lname == "x-delivery-agent" and _TMDA_AGENT in value.lower():
            return Candidate("X-Delivery-Agent: TMDA")
        elif is_autoreply_header(lname, value):
            return Candidate(f"{name}: {value.strip()[:40]}")
        return None

    def result(self) -> Candidate | None:
        """Why the message is a candidate, or None for ordinary mail."""
        if self.found is not None:
            return self.found
        if not self.subject and not self.from_notice:
            return None
        marker = _subject_marker(header_text(self.subject), self.from_daemon, self.from_notice,
                                 self.from_list)
        return Candidate(marker) if marker else None


def screen(mail_from: str, headers: Iterable[tuple[str, str]]) -> Candidate | None:
    """Return why the message is a candidate, or None for ordinary mail."""
    screener = Screener(mail_from)
    for name, value in headers:
        if screener.found is not None:
            break
        screener.feed(name, value)
    return screener.result()
