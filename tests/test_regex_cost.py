"""Hostile text cannot make the reading of a candidate quadratic (no server).

The attacker writes the text of a candidate, and a regex that rescans a long
run of blanks, line ends or dashes from each of its positions costs seconds
for 16-64 KiB of it (``^\\s*`` under MULTILINE, a leading ``[ \\t]*`` or
``-{3,}``). The time budget would then cut the reading short (``Cut.TIME``:
a 451, and seconds of CPU per message). Each sample below is a real shape
of its detector's input plus such a run; with the fix each is read whole,
well within the budget (``Limits.parse_seconds``), so the cut is never the
time budget.
"""

from __future__ import annotations

import pytest

from ledger.check import Cut, Envelope, examine, parse
from ledger.check.message import Limits

BLANK_LINES = "\n" * 60000
DASHES = "-" * 60000
SPACES = " " * 60000


def message(body: str, subject: str = "Undelivered Mail", content_type: str = "text/plain",
            extra: str = "") -> bytes:
    head = (f"From: MAILER-DAEMON@mx.example.net\nTo: alice@example.test\nSubject: {subject}\n"
            f"Message-ID: <own@mx.example.net>\nMIME-Version: 1.0\n{extra}"
            f"Content-Type: {content_type}; charset=us-ascii\n\n")
    return (head + body).encode()


# Each run is followed by text that its pattern does not want, and the pattern's own words
# stand elsewhere (so the literal pre-check lets the regex run): the worst case for a search.
SAMPLES = [
    # own_text: a challenge's way to confirm, then a text of blank lines (the quote search)
    ("challenge own text", message("Please confirm: http://confirm.example/x\n" + BLANK_LINES + "end\n",
                                   subject="Please confirm your message"), "alice@example.test"),
    # the text-bounce producer table: a run of dashes that no marker words follow
    ("sendmail dashes", message("the transcript of session follows\n" + DASHES + "x\n"), ""),
    ("postfix dashes", message("an undelivered message follows below\n" + DASHES + "x\n"), ""),
    ("exim dashes", message("so this is a copy of the message\n" + DASHES + "x\n"), ""),
    # HTML source line breaks: a long run of blanks without a line end
    ("html blanks", message("<p>delivery failed" + SPACES + "x</p>", content_type="text/html"), ""),
    # a subscription request's "confirm <cookie>" line: many blank lines, then no cookie
    # a multipart that uses no delimiter, returning "its" message thousands of times over: the
    # lenient reading tries a few places, not every one
    ("undelimited returned parts", message("Content-Type: message/rfc822\nX-Copy: again\n" * 3000,
                                           content_type='multipart/report; report-type=delivery-status; '
                                                        'boundary="never-used"'), ""),
    ("subscription blank lines", message("please confirm by reply\n" + BLANK_LINES + "end\n",
                                         subject="Confirm your subscription",
                                         extra="List-Id: <list.example.org>\n"), "alice@example.test"),
]


@pytest.mark.parametrize(("name", "raw", "mail_from"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_a_long_run_of_blanks_or_dashes_does_not_spend_the_time_budget(name: str, raw: bytes,
                                                                       mail_from: str) -> None:
    # A budget four times the milter's default: these take milliseconds, the quadratic
    # searches took seconds each (a slow search is one C call: the budget is asked after it).
    limits = Limits(max_bytes=128 * 1024, parse_seconds=2.0)
    parsed = parse(raw, Envelope(mail_from=mail_from, recipients=["alice@example.test"]), limits=limits)
    examine(parsed)
    parsed.expired()  # marks Cut.TIME if the reading went past its budget
    assert parsed.cut is not Cut.TIME, name
