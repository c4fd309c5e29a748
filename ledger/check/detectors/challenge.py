"""Challenge/response requests: "please confirm you sent this message".

C/R systems (TMDA, SpamArrest, Boxbe, and home-grown ones) hold mail from
unknown senders and ask the (forged) sender to prove they exist. The system is
named by its own headers or wording, but that alone is no challenge: its users
carry the agent or fingerprint header (``X-Delivery-Agent: TMDA/...``,
``X-TMDA-Fingerprint``) on *every* message they send. A challenge is
recognised only by the challenge itself, in the message's own (unquoted) text:

* a way to confirm: a confirm address (TMDA's ``user-confirm-COOKIE@`` in the text,
  ``From`` or ``Reply-To``), a link,
  or "reply to this message" / "send an empty message";
* and a challenge subject, or wording about the recipient's message together
  with a confirmation word;
* and no reply features: a list post (``List-Post``) or a ``Re:`` subject under
  list headers is a C/R user writing to a list, never a challenge.

The reference is ``In-Reply-To``/``References`` or a quoted header block, and
the address the original was sent to is the challenge's ``From`` (the
protected mailbox).
"""

from __future__ import annotations

import re

from ledger.check.detectors.base import Finding
from ledger.check.extract import answered_references, sender_addresses
from ledger.check.message import ParsedMessage
from ledger.check.patterns import ABOUT_YOUR_MAIL, CHALLENGE_HEADERS, CHALLENGE_SUBJECT, lowered, table
from ledger.check.replyish import is_list_post, is_reply, own_text

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
    names = message.message.names
    if names & CHALLENGE_HEADERS:
        return "tmda" if any(n.startswith("x-tmda") for n in names) else "headers"
    agent = (message.header("X-Delivery-Agent") or "") + (message.header("X-Mailer") or "")
    text = (agent + "\n" + message.decoded_header("Subject")).lower() + "\n" + message.body_lower()
    for name, pattern in SYSTEMS:
        if pattern.search(text):
            return name
    return None


# How a challenge lets the sender confirm: a link, or a reply / an empty message to an address.
_CONFIRM_ROUTE = lowered(r"https?://|-confirm-|repl(?:y|ying) to this (?:message|e-?mail)|"
                         r"send an empty (?:message|e-?mail)|"
                         r"use your mailer's \"?reply|simply reply|just reply")
_CONFIRM_WORD = lowered(r"confirm|verif|approv|authenticat|whitelist|guest list|release|prove|on hold|held")
_LIST_HEADERS = frozenset({"list-id", "list-post", "list-unsubscribe", "list-help", "list-archive",
                           "x-mailman-version", "mailing-list", "x-sympa-to", "x-google-group-id"})


def _reply_features(message: ParsedMessage) -> bool:
    """A list post, or a reply under list headers: a C/R user writing, not a challenge."""
    if is_list_post(message):
        return True
    names = message.message.names
    return is_reply(message) and bool(names & _LIST_HEADERS)


def _challenge_itself(message: ParsedMessage, subject: str) -> bool:
    """A way to confirm, and a challenge subject or confirmation wording, in the own text."""
    senders = (message.header("Reply-To") or "") + (message.header("From") or "")
    by_address = "-confirm-" in senders.lower()
    if not by_address and _CONFIRM_ROUTE.search(message.body_lower()) is None:
        return False  # no way to confirm anywhere in the text, so none in its own part (the common case)
    own = own_text(message.body_text())
    lower = own.lower()
    if not by_address and _CONFIRM_ROUTE.search(lower) is None:
        return False
    if CHALLENGE_SUBJECT.search(subject):
        return True
    return ABOUT_YOUR_MAIL.search(lower) is not None and _CONFIRM_WORD.search(lower) is not None


class ChallengeDetector:
    name = "challenge"

    def detect(self, message: ParsedMessage) -> Finding | None:
        subject = message.decoded_header("Subject")
        # All three must hold; the cheapest and rarest first (a way to confirm in the own text).
        if not _challenge_itself(message, subject) or _reply_features(message):
            return None  # no challenge: at most the product's header or a mention of it
        found = system(message)
        if found is None:
            return None
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
