"""Every producer, scanner and C/R system in the marker tables is reachable by its own wording.

A line per entry, as the producer writes it (from public descriptions); the
first entry of the table that matches must be that producer, so a later,
more general entry can never shadow an earlier one unnoticed.
"""

from __future__ import annotations

import pytest

from ledger.check.detectors.bounce import PRODUCERS, producer
from ledger.check.detectors.challenge import SYSTEMS
from ledger.check.detectors.virus import SCANNERS, scanner

BOUNCE_LINES = {
    "qmail": "Hi. This is the qmail-send program at mx.example.com.",
    "yahoo": "Sorry, we were unable to deliver your message to the following address.",
    "exim": "This message was created automatically by mail delivery software.",
    "postfix": "This is the mail system program at host mx.example.com.",
    "sendmail": "   ----- The following addresses had permanent fatal errors -----",
    "courier": "This is a delivery status notification from mx.example.com, running the Courier mail server",
    "opensmtpd": "This is the MAILER-DAEMON, please DO NOT REPLY to this email.",
    "exchange": "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:",
    "lotus-notes": "User bob (bob@example.com) not listed in Domino Directory",
    "groupwise": "The attached file had the following undeliverable recipient(s):",
    "gmail": "Delivery to the following recipient failed permanently:",
    "aol": "Your mail to the following recipients could not be delivered because they are not accepting mail",
    "amazon-ses": "An error occurred while trying to deliver the mail to the following recipients:",
    "messaging-server": "This report relates to a message you sent with the following header fields:",
    "imail": "Original message follows.",
    "mailmarshal": "The message was blocked by MailMarshal because it breaks a content rule",
    "trendmicro": "InterScan Messaging Security Suite has blocked this message",
    "mailman": "You are not allowed to post to this mailing list, and your message has been",
    "ezmlm": "Hi! This is the ezmlm program. I'm managing the list@example.com mailing list.",
    "sympa": "You are not allowed to send this message for the following reason:",
    "google-groups": "You do not have permission to post to this group.",
    "fml": "You are not a member of this mailing list <list@example.com>.",
    "generic": "Your message could not be delivered: mailbox unavailable",
}
VIRUS_LINES = {
    "amavis": "VIRUS ALERT Our content checker found virus: Eicar-Test-Signature",
    "clamav": "clamav-milter found a virus in your message: Win.Trojan.Agent-123",
    "mailscanner": "Our virus detector has just been triggered by a message you sent",
    "mcafee": "McAfee GroupShield detected a virus in your message",
    "symantec": "Symantec Mail Security detected a virus based on a message you sent",
    "sophos": "Sophos PureMessage found a virus in the message you sent.",
    "generic": "A virus was found in your message and it was not delivered.",
}
CHALLENGE_LINES = {
    "tmda": "Your original message has been held; this is a TMDA confirmation request.",
    "spamarrest": "I am protected by Spam Arrest. Please click the link to verify.",
    "boxbe": "Boxbe: your message is waiting for approval",
    "generic": "Please confirm that you sent this message by replying.",
}


def test_every_entry_has_a_line() -> None:
    assert set(BOUNCE_LINES) == {name for name, _ in PRODUCERS}
    assert set(VIRUS_LINES) == {name for name, _ in SCANNERS}
    assert set(CHALLENGE_LINES) == {name for name, _ in SYSTEMS}


@pytest.mark.parametrize(("name", "line"), sorted(BOUNCE_LINES.items()))
def test_bounce_producers(name: str, line: str) -> None:
    assert producer(line.lower()) == name


@pytest.mark.parametrize(("name", "line"), sorted(VIRUS_LINES.items()))
def test_virus_scanners(name: str, line: str) -> None:
    assert scanner(line.lower()) == name


@pytest.mark.parametrize(("name", "line"), sorted(CHALLENGE_LINES.items()))
def test_challenge_systems(name: str, line: str) -> None:
    first = next(n for n, pattern in SYSTEMS if pattern.search(line.lower()))
    assert first == name


def test_virus_footers_are_not_notices() -> None:
    assert scanner("no virus found in this message. checked by avg anti-virus.") is None
    assert scanner("this e-mail has been scanned for viruses by symantec.") is None
