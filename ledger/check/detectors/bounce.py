"""Bounces without the RFC 3464 form: known by their wording, or by their null sender alone.

The family has two detectors, both named ``bounce`` (kind ``bounce``): the
pipeline tries :class:`BounceDetector` early and :class:`NullSenderBounceDetector`
last, after the autoreplies (whose null-sender notices it would take too).

:class:`BounceDetector` has one data table: each producer family is known by marker lines
its bounces always carry (qmail's "--- Below this line is a copy of the
message.", Exim's "This message was created automatically by mail delivery
software.", Exchange's "Original message headers:" in nine languages ...).
Only the text of the bounce itself is searched, never the attached original.
A recognised wording is a *form*: such a message may be rejected even when
it carries no reference (policy permitting). The original's ID comes from a
returned part or a quoted header block, its recipients from the prose.

:class:`NullSenderBounceDetector` takes any other null-sender message: RFC 5321
reserves the null reverse-path for notifications, so a null-sender message
that returns or quotes an original's header block is a bounce in form.
Without one it is only a hint (list notices, unknown report formats), which
may tag but never reject: that holds for a notice naming its original only in
its own ``In-Reply-To``/``References`` (a gateway's status notice) too, which
a ledger match accepts and anything else at most tags.
"""

from __future__ import annotations

from ledger import addresses, msgid
from ledger.check.detectors.base import Finding
from ledger.check.extract import original_references, reply_references, text_recipients
from ledger.check.message import ParsedMessage
from ledger.check.patterns import (
    BOUNCE_SUBJECT,
    is_daemon_localpart,
    is_mailerish_localpart,
    list_manager_address,
    table,
)
from ledger.check.replyish import is_list_post

# (producer family, marker pattern). Most specific first; the first hit names the producer.
PRODUCERS = table(
    ("qmail", r"this is the qmail-send program|i'm afraid i wasn't able to deliver your message|"
              r"--- below this line is a copy of the message|--- enclosed are the original headers"),
    ("yahoo", r"sorry, we were unable to deliver your message to the following address|"
              r"yahoo! ?mail|this message was created automatically by mail delivery software at yahoo"),
    ("exim", r"this message was created automatically by mail delivery software|"
             r"a message that you sent could not be delivered to (?:one or more|all) of its|"
             r"(?<!-)-{3,} this is a copy of the message|the following address\(es\) failed|"
             r"message (?:is )?(?:delayed|frozen|has not yet been delivered)|"
             r"has not yet been delivered to the following addresses"),
    ("postfix", r"this is the (?:postfix|mail system) program at host|"
                r"i'm sorry to have to inform you that your message could not|"
                r"(?<!-)-{2,} delivery report unavailable -{2,}|"
                r"(?<!-)-{2,} undelivered message follows -{2,}"),
    ("sendmail", r"(?<!-)-{3,} the following addresses had (?:permanent fatal|transient non-fatal) errors|"
                 r"(?<!-)-{3,} transcript of session follows|"
                 r"(?<!-)-{3,} (?:original message|unsent message|returned mail|message header|"
                 r"original message header)s? follows?|"
                 r"the original message was received at|(?<!-)-{3,} recipients? of undeliverable mail"),
    ("courier", r"running the courier mail server|courier mail server at|courier-mta"),
    ("opensmtpd", r"this is the mailer-daemon, please do not reply|"
                  r"an error has occurred while attempting to deliver a message for\s+the following|"
                  r"below is a copy of the original message"),
    ("exchange", r"delivery has failed to these recipients or groups|"
                 r"your message did not reach some or all of the intended recipients|"
                 r"the following recipient\(s\) (?:could not|cannot) be reached|"
                 r"diagnostic information for administrators|"
                 r"your message (?:to .{1,200} )?couldn't be delivered|"
                 r"original message headers|remote server returned|#5\.\d\.\d{1,3}\b|"
                 r"en-t[êe]tes? (?:du|de) message d'origine|la remise aux destinataires ou groupes suivants|"
                 r"informations de diagnostic pour les administrateurs|"
                 r"urspr[üu]ngliche nachrichtenkopfzeilen|kopfzeilen der urspr[üu]nglichen nachricht|"
                 r"die zustellung an folgende empf[äa]nger|diagnoseinformationen f[üu]r administratoren|"
                 r"encabezados (?:del|de) mensaje original|error en la entrega a estos destinatarios|"
                 r"informaci[óo]n de diagn[óo]stico para administradores|"
                 r"intestazioni (?:originali del messaggio|del messaggio originale)|"
                 r"recapito non riuscito|informazioni di diagnostica per gli amministratori|"
                 r"cabe[çc]alhos (?:da|de) mensagem original|falha na entrega|"
                 r"informa[çc][õo]es de diagn[óo]stico para administradores|"
                 r"oorspronkelijke berichtkoppen|headers van (?:het )?oorspronkelijke? bericht|"
                 r"levering aan deze ontvangers|diagnostische gegevens voor beheerders|"
                 r"ursprungliga meddelande(?:huvuden|rubriker)|det gick inte att leverera|"
                 r"diagnostisk information f[öo]r administrat[öo]rer|"
                 r"元のメッセージ\s?ヘッダー|配信に失敗しました|管理者向けの診断情報"),
    ("lotus-notes", r"your (?:document|message):?.{0,300}?\bwas not delivered to|"
                    r"not listed in (?:the )?(?:public )?(?:name (?:and|&) address book|domino directory)|"
                    r"lotus domino|delivery failure report"),
    ("groupwise", r"message status - undeliverable|the attached file had the following undeliverable|"
                  r"groupwise internet agent|novell groupwise"),
    ("gmail", r"delivery to the following recipients? (?:failed permanently|has been delayed)|"
              r"technical details of (?:permanent|temporary) failure|"
              r"the response from the remote server was|google tried to deliver your message|"
              r"your message wasn't delivered to"),
    ("aol", r"your mail to the following recipients could not be delivered|aol\.com mailer"),
    ("amazon-ses", r"an error occurred while trying to deliver the mail to the following recipients|"
                   r"amazonses\.com"),
    ("messaging-server", r"this report relates to a message you sent with the following header fields|"
                         r"your message cannot be delivered to the following recipients|"
                         r"(?:sun java system|oracle communications|iplanet) messaging server"),
    ("imail", r"ipswitch|\bimail\b|smtp32|original message follows|unknown user:"),
    ("mailmarshal", r"mailmarshal|marshal8e6|trustwave secure email gateway"),
    ("trendmicro", r"interscan|trend micro|scanmail for"),
    ("mailman", r"you are not allowed to post to this mailing list|awaits moderator approval|"
                r"has been rejected by the list moderator|your request to the .{1,100} mailing list|"
                r"post by non-member to a members-only list|is being held until the list moderator|"
                r"message has been automatically rejected|"
                r"your message to the .{1,100} mailing-list was rejected"),
    ("ezmlm", r"this is the ezmlm program|i'm managing the\s.{1,200}\smailing list|"
              r"only subscribers (?:may|can) post"),
    ("sympa", r"your message for list .{1,100}(?:was|has been) (?:rejected|forwarded to (?:the )?moderator)|"
              r"you are not allowed to send this message for the following reason"),
    ("google-groups", r"you do not have permission to post to this group|"
                      r"your message to .{1,100} (?:has been|was) rejected|google groups"),
    ("fml", r"you are not a member of this mailing list|fml-support|mailing list was rejected \(not member\)|"
            r"if you know the general guide of this list"),
    ("generic", r"undelivered mail returned|could not be delivered|delivery (?:has )?failed|"
                r"permanent (?:fatal )?error|user unknown|unknown user|no such (?:user|mailbox)|"
                r"mailbox (?:unavailable|not found|full|is full)|recipient address rejected|"
                r"message (?:was )?not delivered|unable to deliver|undeliverable|"
                r"delivery (?:status notification|notification: delivery has failed)|"
                r"returned mail: "),
)


def producer(text: str) -> str | None:
    """The producer family whose marker the (lower-cased) text carries, or None."""
    for name, pattern in PRODUCERS:
        if pattern.search(text):
            return name
    return None


def body_producer(message: ParsedMessage) -> str | None:
    """:func:`producer` of the message's own text, found once (the virus detector asks too)."""
    return message.once("producer", lambda parsed: producer(parsed.body_lower()))


def from_a_mailer(message: ParsedMessage) -> bool:
    """Null sender, or a daemon or list-manager From or envelope sender."""
    if message.envelope.null_sender:
        return True
    senders = [*message.from_addresses(), addresses.normalise(message.envelope.mail_from)]
    return any(_daemon(addresses.local_part(a)) or list_manager_address(a) for a in senders)


def _daemon(local: str) -> bool:
    """A daemon's local part; not the daemon-like names notification senders use (``mailer@``)."""
    return is_daemon_localpart(local) and not is_mailerish_localpart(local)


class BounceDetector:
    name = "bounce"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if is_list_post(message) and not message.envelope.null_sender:
            return None  # a post the list distributed (its envelope sender is the list's): people talking
        mailer = from_a_mailer(message)
        if not mailer and not BOUNCE_SUBJECT.search(message.decoded_header("Subject")):
            return None
        found = body_producer(message)
        if found is None or (found == "generic" and not mailer):
            # generic wording ("unable to deliver") from an ordinary sender is a parcel
            # service or a helpdesk, not a mail system: only a named producer counts
            return None
        refs = original_references(message)
        for ref in msgid.all_in_header(message.header("In-Reply-To")):
            if ref not in refs:  # list managers answer the post they refuse
                refs.append(ref)
        return Finding("bounce", tuple(refs), form=True,
                       detector=f"{self.name}/{found}",
                       recipients_of_original=tuple(text_recipients(message)))


class NullSenderBounceDetector:
    """Any other null-sender message (module docstring); tried last."""

    name = "bounce"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if not message.envelope.null_sender:
            return None
        refs = original_references(message)
        form = bool(refs)
        refs = refs or reply_references(message)
        recipients = text_recipients(message) if refs else []
        return Finding("bounce", tuple(refs), form=form, detector=f"{self.name}/null-sender",
                       recipients_of_original=tuple(recipients))
