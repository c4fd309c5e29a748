"""Header-stage screening: is this message a backscatter candidate at all?

Runs at end of headers, before any body byte is read. Ordinary mail (a real
sender and no report or autoreply marker) returns None and is accepted at once
by the inbound milter; everything else goes on to the detectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger import addresses

DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|fail|notification|report|problem)|returned mail|"
    r"failure notice|mail delivery|non[- ]?delivery|could not be delivered|"
    r"delivery has failed|warning: could not send|mail system error",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Candidate:
    """Why a message is a backscatter candidate (the first marker seen)."""

    marker: str


def screen(mail_from: str, headers: Iterable[tuple[str, str]]) -> Candidate | None:
    """Return why the message is a candidate, or None for ordinary mail."""
    if addresses.normalise(mail_from) == addresses.NULL_SENDER:
        return Candidate("null sender")
    subject = ""
    daemon_from = False
    for name, value in headers:
        lname = name.lower()
        if lname == "content-type" and value.strip().lower().startswith("multipart/report"):
            return Candidate("multipart/report")
        if lname == "auto-submitted" and value.split(";")[0].strip().lower() not in ("", "no"):
            return Candidate(f"Auto-Submitted: {value.split(';')[0].strip()[:40]}")
        if lname == "from":
            daemon_from = any(
                addresses.local_part(a) in DAEMON_LOCALPARTS for a in addresses.from_header(value)
            )
        elif lname == "subject":
            subject = value
    if daemon_from and BOUNCE_SUBJECT.search(subject):
        return Candidate("MAILER-DAEMON/postmaster From with a bounce subject")
    return None
