"""Mailing-list "confirm your subscription" requests.

A spammer who forges our address into a subscription form makes list
managers (Mailman, ezmlm, Sympa, LISTSERV, newsletter services) ask us to
confirm. The form is recognised by list-manager headers (``List-Id``,
``X-Mailman-Version``, ezmlm's ``Mailing-List``) together with confirmation
wording. A post the list distributed (``List-Post``) talking about
subscriptions is none. There is rarely a reference; the policy for that case applies.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.extract import answered_references
from ledger.check.message import ParsedMessage
from ledger.check.patterns import SUBSCRIPTION_SUBJECT, lowered
from ledger.check.replyish import is_list_post

_LIST_HEADERS = ("list-id", "x-mailman-version", "mailing-list", "x-listserver", "x-sympa-to",
                 "x-list", "list-unsubscribe", "x-ezmlm-version", "list-help", "x-listmember")
_WORDING = lowered(
    r"confirm (?:your |this )?(?:subscription|request to (?:join|subscribe))|"
    r"(?:someone|somebody|you)(?: \([^)]{0,30}\))? (?:has |have )?requested (?:that )?.{0,80}"
    r"(?:subscri|be added|join)|"
    r"to confirm that you would like|registration request|confirm that this is your e-?mail|"
    r"(?:^|\n)[ \t]*confirm [0-9a-f]{16,}|auth [0-9a-f]{6,} subscribe|"
    r"simply (?:disregard|ignore) this message|"
    r"to confirm (?:that you want to be added|your subscription|the subscription)|"
    r"confirm subscribe to|subscription (?:request|confirmation)|"
    r"if you did not (?:request|ask|make) (?:this|to be)|ignore this (?:message|e-?mail)|"
    r"reply to this (?:message|e-?mail)[^.]{0,80}(?:subscri|confirm)|"
    r"your confirmation is required"
)


class SubscriptionDetector:
    name = "subscription"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if is_list_post(message):
            return None  # a post the list distributed (RFC 2369 List-Post), not its request to confirm
        subject = message.decoded_header("Subject")
        names = message.message.names
        list_headers = bool(names.intersection(_LIST_HEADERS))
        subject_hit = bool(SUBSCRIPTION_SUBJECT.search(subject))
        if not (subject_hit or list_headers):
            return None
        body = message.body_lower()[:16384]
        if _WORDING.search(body) is None:
            return None
        if not subject_hit and not any(word in body for word in ("subscri", "join", "registration")):
            return None  # a list's own notice of another sort
        refs = answered_references(message)
        return Finding("subscription", tuple(refs), form=True, detector=self.name)
