"""Challenge/response requests: "please confirm you sent this message".

C/R systems (TMDA, SpamArrest, Boxbe, and home-grown ones) hold mail from
unknown senders and ask the (forged) sender to prove they exist. The form is
recognised by the system's own headers or wording; the reference is
``In-Reply-To``/``References`` or a quoted header block, and the address the
original was sent to is the challenge's ``From`` (the protected mailbox).
"""

from __future__ import annotations

import re

from ledger.check.detectors.base import Finding
from ledger.check.extract import answered_references, sender_addresses
from ledger.check.message import ParsedMessage
from ledger.check.patterns import ABOUT_YOUR_MAIL, CHALLENGE_HEADERS, CHALLENGE_SUBJECT, table

SYSTEMS = table(
    ("tmda", r"\btmda\b|tagged message delivery agent|x-tmda-confirm|"
             r"your original message has been held|confirmation request from"),
    ("spamarrest", r"spam ?arrest"),
    ("boxbe", r"boxbe"),
    ("generic", r"(?:please|kindly) (?:confirm|verify) (?:that )?you (?:sent|are)|"
                r"(?:click|visit|follow) (?:on )?(?:the|this) (?:link|url) (?:below )?to (?:confirm|verify)|"
                r"reply to this (?:message|e-?mail) to (?:confirm|verify|be added)|"
                r"i (?:use|am using) (?:a |an )?(?:challenge[- ]response|anti-?spam (?:system|service))|"
                r"protected by .{0,40}(?:challenge|verification|anti-?spam)|"
                r"(?:your|the) (?:message|e-?mail) (?:is|has been|was) (?:held|quarantined|pending) "
                r"(?:until|for|awaiting)|added to (?:my|the) (?:approved|allowed) senders? list|"
                r"prove (?:that )?you are (?:a )?(?:human|real person)|to confirm that you sent|"
                r"(?:use|using) a (?:sender )?verification (?:system|service)|are not a (?:machine|robot)"),
)


def system(message: ParsedMessage) -> str | None:
    """The C/R system that sent the message, from its headers or wording, or None."""
    names = {name.lower() for name in message.message}
    if names & CHALLENGE_HEADERS:
        return "tmda" if any(n.startswith("x-tmda") for n in names) else "headers"
    agent = (message.header("X-Delivery-Agent") or "") + (message.header("X-Mailer") or "")
    text = (agent + "\n" + message.decoded_header("Subject")).lower() + "\n" + message.body_lower()
    for name, pattern in SYSTEMS:
        if pattern.search(text):
            return name
    return None


class ChallengeDetector:
    name = "challenge"

    def detect(self, message: ParsedMessage) -> Finding | None:
        found = system(message)
        if found is None:
            return None
        subject = message.decoded_header("Subject")
        about_your_mail = ABOUT_YOUR_MAIL.search(subject + "\n" + message.body_text()[:16384])
        if found != "headers" and not about_your_mail:
            return None  # the system's own newsletter or account notice, not a challenge
        if found == "generic" and not (
            CHALLENGE_SUBJECT.search(subject) or "confirm" in message.body_lower()[:4096]
        ):
            return None  # generic wording alone must also ask for a confirmation
        refs = answered_references(message)
        return Finding("challenge", tuple(refs), form=True, detector=f"{self.name}/{found}",
                       recipients_of_original=tuple(protected_addresses(message)))


_TMDA_CONFIRM = re.compile(r"^(?P<user>.+?)-confirm-[^@]+@(?P<domain>.+)$")


def protected_addresses(message: ParsedMessage) -> list[str]:
    """The challenge's From (and Reply-To), and behind TMDA's ``user-confirm-COOKIE@`` the user."""
    found = sender_addresses(message)
    for address in list(found):
        match = _TMDA_CONFIRM.match(address)
        if match:
            user = f"{match.group('user')}@{match.group('domain')}"
            if user not in found:
                found.append(user)
    return found
