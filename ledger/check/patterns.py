"""Precompiled header patterns shared by the header screen and the detectors.

The screen runs on every inbound message, so everything here is compiled
once at import and anchored where the real thing is anchored (autoreply
subjects *start* with their marker; a personal "Re: out of office" does not).
A pattern here is a *hint*: it makes a message a candidate or names a kind,
but only a recognised form in the body may justify a rejection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ledger.check.literals import required_literals

_CASE_SENSITIVE_ESCAPES = ("\\S", "\\W", "\\D", "\\B", "\\A", "\\Z")


class Marker:
    """A pattern for *lower-cased* text that runs only when the text holds one of the
    literals every match must contain (``ledger.check.literals``): most texts hold none,
    and ``str.__contains__`` is many times faster than the regex engine's scan."""

    __slots__ = ("literals", "pattern")

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.pattern = re.compile(pattern)
        self.literals = required_literals(self.pattern)

    def _may_match(self, text: str) -> bool:
        if self.literals is None:
            return True
        for literal in self.literals:  # noqa: SIM110 - a plain loop: no generator frame per literal
            if literal in text:
                return True
        return False

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.pattern.search(text, pos) if self._may_match(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self._may_match(text) else iter(())

    def sub(self, replacement: str, text: str) -> str:
        return self.pattern.sub(replacement, text) if self._may_match(text) else text


def lowered(pattern: str) -> Marker:
    """Compile a pattern for searching *lower-cased* text.

    Detectors search a bounce's whole text with long alternations; on text
    lower-cased once, a case-sensitive pattern lets the regex engine skip
    ahead by first characters, which IGNORECASE prevents (3-6x faster here),
    and lets :class:`Marker` skip the engine when no required literal occurs.
    """
    if any(escape in pattern for escape in _CASE_SENSITIVE_ESCAPES):
        raise ValueError(f"pattern has an escape that lower-casing would change: {pattern[:60]}")
    return Marker(pattern.lower())


def table(*entries: tuple[str, str]) -> tuple[tuple[str, Marker], ...]:
    """A (name, pattern) table of markers, compiled for lower-cased text."""
    return tuple((name, lowered(pattern)) for name, pattern in entries)


# Local parts that send delivery reports and notices, never personal mail.
DAEMON_LOCALPARTS = frozenset({
    "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mail.daemon",
    "mmdf", "mail-delivery", "maildelivery", "mailadmin", "mailer", "smtp-gateway",
    "nobody-bounce", "bounce", "bounces", "returned-mail", "exchangeadmin",
    "mail-delivery-subsystem", "maildeliverysystem", "mail-delivery-system", "mailer-agent",
})
_SEPARATORS = str.maketrans("", "", "-_.")
# The same names with separators dropped: post_master, mailer_daemon, MAILER.DAEMON ...
_DAEMON_SQUASHED = frozenset(name.translate(_SEPARATORS) for name in DAEMON_LOCALPARTS)


def is_daemon_localpart(local: str) -> bool:
    """A local part that sends delivery reports, in any spelling (``post_master``, ``Mailer.Daemon``)."""
    lowered = local.lower()
    return lowered in DAEMON_LOCALPARTS or lowered.translate(_SEPARATORS) in _DAEMON_SQUASHED

# Daemon-like names that services also send ordinary notices and newsletters from
# ("mailer@parcels.example"): a bounce subject from one of them is no strong signal.
MAILERISH_LOCALPARTS = frozenset({"mailer", "mailadmin", "mailer-agent", "bounce", "bounces"})


def is_mailerish_localpart(local: str) -> bool:
    """A daemon-like local part that ordinary notification software uses too."""
    return local.lower() in MAILERISH_LOCALPARTS


# Local parts of virus scanners and challenge/response systems.
NOTICE_LOCALPARTS = frozenset({
    "amavis", "amavisd", "virusalert", "virus-alert", "virus", "antivirus", "av-alert",
    "viruswall", "mailscanner", "clamav", "clamsmtp", "scanmail", "mailsweeper", "mailmarshal",
    "interscan", "imss", "sophos", "puremessage", "symantec", "mcafee", "webshield",
    "spamarrest", "tmda", "boxbe",
})

# "Undelivered Mail Returned to Sender", "failure notice", NDR subjects in several languages.
BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status|fail|notification|report|problem|has failed|incomplete)|"
    r"returned mail|return(?:ed)? to sender|failure notice|mail delivery|non[- ]?delivery|"
    r"could not be delivered|couldn't be delivered|warning: could not send|mail system error|"
    r"not delivered|delivery failure|message (?:not|could not be) delivered|"
    r"unzustellbar|nicht zustellbar|non remis|non distribuable|no se puede entregar|"
    r"non recapitabile|niet bezorgd|kan niet worden bezorgd|kunde inte levereras|"
    r"não (?:pode ser )?entregue|配信不能|配信できません|delivery status notification|"
    # Localised NDR subjects (Office 365's "Undeliverable:" and MTAs' own), decoded from RFC 2047:
    r"配信エラー|配信失敗|无法投递|無法傳遞|无法送达|無法送達|投递失败|邮件退回|退信|系统退信|"
    r"배달되지 않음|배달 실패|전달 실패|반송된 메일|메일 반송|발송 실패|"
    r"недоставлен|не доставлено|не может быть доставлено|ошибка доставки|"
    r"возвращ[её]нное (?:письмо|сообщение)|"
    r"niedostarczalne|nie można dostarczyć|niedostarczon|nedoručitelné|nelze doručit|"
    r"teslim edilemedi|kan ikke leveres|ikke levert|kunne ikke leveres|toimittamaton|ei voitu toimittaa|"
    r"kézbesíthetetlen|δεν είναι δυνατή η παράδοση|αδυναμία παράδοσης|não é possível entregar|"
    r"no entregado|impossible de remettre",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_LOWER = lowered(BOUNCE_SUBJECT.pattern)


def bounce_subject(subject: str) -> bool:
    """BOUNCE_SUBJECT on the lower-cased subject: the screen asks it of every message with a
    subject, and the case-sensitive search of lower-cased text is several times faster."""
    return _BOUNCE_SUBJECT_LOWER.search(subject.lower()) is not None


# Lines after which a text bounce quotes the returned message, header block first (qmail,
# Exim, Sendmail, Postfix, OpenSMTPD, IMail, Exchange in its languages, Oracle's excerpt).
# For lower-cased text; the stream scanner (check/stream.py) tests lines of at most
# COPY_MARKER_LINE characters, since a marker is a line of its own.
COPY_MARKER = Marker(  # a Marker: most texts hold none of its literals
    r"below this line is a copy of the message|enclosed are the original headers|"
    r"this is a copy of the message|below is a copy of the original message|"
    r"(?:original|unsent|returned|undelivered) (?:message|mail)(?: header)?s? follows?|"
    r"message headers? follows?|original message headers|headers of the original message|"
    r"relates to a message you sent with the following header fields|"
    r"^-{2,} ?original message ?-{2,}$|^(?:the )?(?:original )?message headers?:?$|"
    r"en-t[êe]tes? (?:du|de) message d'origine|urspr[üu]ngliche nachrichtenkopfzeilen|"
    r"kopfzeilen der urspr[üu]nglichen nachricht|encabezados (?:del|de) mensaje original|"
    r"intestazioni (?:originali del messaggio|del messaggio originale)|"
    r"cabe[çc]alhos (?:da|de) mensagem original|oorspronkelijke berichtkoppen|"
    r"headers van (?:het )?oorspronkelijke? bericht|ursprungliga meddelande(?:huvuden|rubriker)|"
    r"元のメッセージ\s?ヘッダー"
)
COPY_MARKER_LINE = 200

# Autoreply subjects start with the marker ("Out of Office: <original subject>").
AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:"
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|respond|antwort)|"
    r"auto:|autoreply|away from (?:the )?office|on vacation|vacation(?: reply| notice)?:|"
    r"abwesenheit|abwesend|automatische antwort|automatische rückantwort|"
    r"r[ée]ponse automatique|absence du bureau|absent du bureau|"
    r"respuesta autom[áa]tica|fuera de la oficina|ausente|"
    r"risposta automatica|fuori sede|fuori ufficio|"
    r"resposta autom[áa]tica|fora do escrit[óo]rio|"
    r"automatisch antwoord|afwezig|niet aanwezig|"
    r"automatiskt svar|autosvar|fr[åa]nvaro|"
    r"自動応答|自動返信|不在)",
    re.IGNORECASE,
)

VIRUS_SUBJECT = re.compile(
    r"(?:virus(?:es)?|malware|worms?|trojans?)\b.{0,60}?(?:found|detected|triggered|alert|removed|blocked|quarantin|"
    r"in (?:mail|message|e-?mail|your)|from you|gefunden|détecté|encontrado|rilevato|gevonden)|"
    r"(?:found|detected|alert|notification)\b.{0,30}?\b(?:virus|malware)|"
    r"\binfected\b|infizierte?|infecté|infectado|infetto|geïnfecteerd|eicar|"
    r"banned (?:content|attachment)|e-?mail (?:threat|security) alert",
    re.IGNORECASE,
)
# "no virus found", "virus-free" and the like are footers, not notices.
NOT_VIRUS_SUBJECT = re.compile(r"no virus|virus[- ]free|anti-?virus (?:update|software|offer)",
                               re.IGNORECASE)

CHALLENGE_SUBJECT = re.compile(
    r"please confirm (?:your|that you sent|the) (?:message|e-?mail|request)|"
    r"confirm(?:ation)? (?:of|that) you sent|verify (?:your|that you sent)|"
    r"(?:message|e-?mail) (?:is )?(?:held|pending|awaiting) (?:for )?(?:your )?(?:verification|approval)|"
    r"awaiting your (?:approval|verification)|spam ?arrest|boxbe|"
    r"sender verification|challenge[- ]response|are you (?:a )?human|"
    r"is waiting for your approval|requires? your (?:confirmation|verification)|"
    r"please (?:verify|authenticate) (?:yourself|your e-?mail)",
    re.IGNORECASE,
)

SUBSCRIPTION_SUBJECT = re.compile(
    r"confirm(?:ation)? (?:of |for )?(?:your )?(?:subscription|subscribe|request to join)|"
    r"confirmation is (?:needed|required) to (?:join|subscribe)|"
    r"subscription (?:confirmation|request)|please confirm (?:your )?subscription|"
    r"confirm subscribe to|your confirmation is required|"
    r"^\s*confirm [0-9a-f]{16,}\s*$|request to (?:join|subscribe)",
    re.IGNORECASE,
)

# A person's reply or forward ("Re:", "Fwd:", "AW:", "SV:" ..., also after a list's "[tag]"): its
# subject names the thread, not the message, so subject patterns other than the anchored autoreply
# ones do not apply.
HUMAN_PREFIX = re.compile(r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:re|fwd?|aw|wg|sv|vs|tr|rv|r|antw|odp|enc|res)\s*"
                          r"(?:\[\d+\])?\s*:",
                          re.IGNORECASE)
# A notice about mail the recipient sent (virus notices and challenges must say so;
# an antivirus console's alert or a sign-up confirmation does not).
# For text lower-cased once (a Marker: most texts hold none of its literals).
ABOUT_YOUR_MAIL = lowered(
    r"(?:message|e-?mail|mail)s? (?:that )?you (?:have |had )?(?:just )?sent|you sent|"
    r"sent from your (?:address|account|e-?mail)|(?:presumably|apparently|probably) from you|"
    r"\bfrom you\b|your (?:original )?(?:message|e-?mail|mail|post)\b(?!\s+(?:address|account))|"
    r"sender of (?:the|this) message|"
    r"in (?:an )?e-?mail to you from",
)

# Header names whose mere presence marks an automatic reply or a C/R system.
AUTOREPLY_HEADERS = frozenset({"x-autoreply", "x-autorespond", "x-autoresponse", "x-autogenerated",
                               "x-vacation"})
CHALLENGE_HEADERS = frozenset({"x-challenge", "x-tmda-confirm", "x-tmda-fingerprint", "x-boxbe-challenge",
                               "x-spamarrest-challenge", "x-challenge-response", "x-cr-challenge"})
# Mailing-list managers' notices about a post (held, rejected), from list-manager addresses.
LIST_NOTICE_SUBJECT = re.compile(
    r"awaits moderator approval|^\s*rejected[ :(]|\(not member\)|auto-?response for your message|"
    r"your (?:message|mail|post(?:ing)?) (?:to .{1,80} )?(?:was |has been |is )?"
    r"(?:rejected|held|refused|denied|bounced)|posting (?:rejected|denied|held)|"
    r"message (?:rejected|held for moderation)|not (?:a )?member of|"
    r"request to mailing list .{1,80} rejected|moderating your message|"
    r"message (?:rejected|refused|not distributed) (?:for|to) (?:the )?list",
    re.IGNORECASE,
)
LIST_MANAGER_HEADERS = frozenset({"x-list-administrivia", "x-ml-server", "x-ml-name", "x-mailman-version",
                                  "mailing-list", "x-ezmlm-version", "list-id", "x-listserver"})
LIST_MANAGER_SUFFIXES = ("-owner", "-admin", "-request", "-bounces", "-help")
# The list managers' own addresses (Sympa's sympa@, LISTSERV, Majordomo) and Google Groups'
# "group+owners@" address.
LIST_MANAGER_LOCALPARTS = frozenset({"sympa", "listserv", "majordomo", "mailman", "ecartis", "lyris",
                                     "listproc", "smartlist"})
LIST_MANAGER_TAGS = ("owner", "owners", "bounces", "admin")


def list_manager_address(address: str) -> bool:
    """``list-owner@``, ``owner-list@``, ``list+owners@``, ``sympa@``: a list manager, not a person."""
    local = address.rsplit("@", 1)[0].lower()
    if local.endswith(LIST_MANAGER_SUFFIXES) or local.startswith("owner-"):
        return True
    base, plus, tag = local.partition("+")
    return base in LIST_MANAGER_LOCALPARTS or bool(plus and tag in LIST_MANAGER_TAGS)


AUTOREPLY_PRECEDENCE = frozenset({"auto_reply", "auto-reply", "autoreply"})


_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def auto_submitted(value: str | None) -> str:
    """The keyword of an Auto-Submitted value, without parameters or comments ("" if none)."""
    match = _TOKEN.search(value or "")
    return match.group(0).lower() if match else ""


def is_autoreply_header(name: str, value: str) -> bool:
    """True for the header markers of an automatic reply (not RFC 3834's Auto-Submitted)."""
    lname = name.lower()
    if lname in AUTOREPLY_HEADERS:
        return value.strip().lower() not in ("no", "false", "0")
    if lname == "precedence":
        return value.strip().lower() in AUTOREPLY_PRECEDENCE
    if lname == "x-apple-action":
        return "vacation" in value.lower() or "auto" in value.lower()
    return False
