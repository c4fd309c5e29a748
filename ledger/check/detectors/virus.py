"""Virus-scanner notices sent to the (usually forged) sender of an infected message.

Scanners (Amavis, ClamAV front ends such as clamsmtp/ClamAV-milter,
MailScanner, McAfee, Symantec, Sophos, and countless "virus found in your
message" scripts) write to the envelope sender or ``From:`` of mail that
worms forged. The form is recognised by the notice's wording, which names
the scanner and the verdict; a "no virus found" footer is not a notice. The
original is identified by a returned part or quoted headers if there are
any; its recipients by "Recipient(s): ..." lines.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.detectors.bounce import body_producer
from ledger.check.extract import answered_references, text_recipients
from ledger.check.message import ParsedMessage
from ledger.check.patterns import ABOUT_YOUR_MAIL, NOT_VIRUS_SUBJECT, VIRUS_SUBJECT, lowered, table

SCANNERS = table(
    ("amavis", r"amavis|virus alert\b.{0,80}our content checker found|"
               r"our content checker found\s+(?:a )?virus|banned (?:filename|content)"),
    ("clamav", r"clamav|clamsmtp|clamd\b|clamav-milter|\.ud?b\.?\s*found|"
               r"(?:heuristics|win\.trojan|win\.worm|email\.trojan)\.[a-z0-9_.-]+"),
    ("mailscanner", r"mailscanner|our virus detector has (?:just )?been triggered"),
    ("mcafee", r"mcafee|webshield|groupshield|virusscan"),
    ("symantec", r"symantec|norton anti-?virus|brightmail|scanmail for exchange"),
    ("sophos", r"sophos|puremessage|sav-?i\b"),
    ("generic", r"(?:virus|worm|trojan|malware)\b.{0,80}?(?:found|detected|discovered|identified)\b.{0,80}?"
                r"(?:in|within|on) (?:your|the|an?) (?:message|mail|e-?mail|attachment)|"
                r"(?:message|mail|e-?mail|attachment) (?:you sent|from you)\b.{0,120}?"
                r"(?:contain(?:s|ed)|infected with|carr(?:y|ies|ied)) (?:a |the )?"
                r"(?:virus|worm|trojan|malware)|"
                r"(?:message|attachment) (?:was|is|has been) infected|infected (?:with|by) (?:the )?"
                r"(?:virus|worm)|virus (?:name|identified|found|detected)\s*:|"
                r"(?:quarantined|removed|deleted|cleaned) (?:the|an|a)? ?(?:infected )?(?:attachment|file)|"
                r"eicar[-_ ]test[-_ ](?:signature|file)"),
)
# Footers of ordinary mail ("No virus found in this message", "virus-free").
_FOOTERS = lowered(r"no (?:virus|viruses|malware) (?:was |were )?(?:found|detected)|"
                   r"virus[- ]free|checked by .{0,40}anti-?virus|scanned (?:by|for viruses)|"
                   r"this (?:e-?mail|message) (?:has been|was) (?:checked|scanned)")
_VERDICT_WORDS = ("virus", "worm", "trojan", "malware", "infect", "eicar", "banned")
_VERDICT = lowered(VIRUS_SUBJECT.pattern)
# Scanners that only ever write about infected mail: their name alone is the verdict.
_DEDICATED = ("amavis", "mailscanner")


def scanner(text: str) -> str | None:
    """The scanner family whose notice wording the (lower-cased) text carries, or None."""
    if not any(word in text for word in _VERDICT_WORDS):
        return None  # the common case for bounces and autoreplies: no regex runs at all
    cleaned = _FOOTERS.sub(" ", text)
    if _VERDICT.search(cleaned) is None:
        return None
    for name, pattern in SCANNERS:
        if pattern.search(cleaned):
            return name
    return None


def _delivery_report(message: ParsedMessage) -> bool:
    """An MTA's bounce whose diagnostic merely mentions a virus is a bounce, not a notice."""
    if not message.envelope.null_sender:
        return False
    family = body_producer(message)
    return family is not None and family not in ("generic", "mailmarshal", "trendmicro")


class VirusDetector:
    name = "virus"

    def detect(self, message: ParsedMessage) -> Finding | None:
        subject = message.decoded_header("Subject")
        subject_hint = bool(VIRUS_SUBJECT.search(subject)) and not NOT_VIRUS_SUBJECT.search(subject)
        found = scanner(subject.lower() + "\n" + message.body_lower())
        if found is None or (found == "generic" and _delivery_report(message)):
            return None
        if not subject_hint and found not in _DEDICATED and scanner(message.body_lower()[:8192]) is None:
            return None
        if not ABOUT_YOUR_MAIL.search(subject.lower() + "\n" + message.body_lower()[:16384]):
            return None  # an antivirus console's alert about a host, not about mail sent from here
        return Finding("virus", tuple(answered_references(message)), form=True,
                       detector=f"{self.name}/{found}",
                       recipients_of_original=tuple(text_recipients(message)))
