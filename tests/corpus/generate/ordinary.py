"""Ordinary mail a domain receives: none of it may ever be rejected.

Several categories carry the traps the heuristics trip over (Auto-Submitted on
notifications, "daemon" senders, "no virus found" footers, bounces quoted or
forwarded by people, In-Reply-To pointing at our own mail).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import quote_block

DESC = "written from public description: "


@dataclass
class Msg:
    """One ordinary message before it becomes a sample."""

    raw: str
    fmt: str
    mail_from: str
    kind: str | None = None
    original: c.Original | None = None
    charset: str = "utf-8"


Maker = Callable[[random.Random, int], Msg]


def _world(rng: random.Random) -> tuple[str, str]:
    return c.world_address(rng)


def _user(rng: random.Random) -> tuple[str, str]:
    display, local = rng.choice(c.OUR_PEOPLE)
    return display, f"{local}@{c.SITE}"


def _world_id(rng: random.Random, address: str) -> str:
    """The Message-ID the system of the world sender ``address`` gives its message."""
    return c.world_msgid(rng, address.split("@")[1], c.BASE_DATE)


def _head(
    rng: random.Random,
    frm: str,
    to: str,
    subject: str,
    own: str,
    extra: list[str] | None = None,
    ctype: str = "Content-Type: text/plain; charset=utf-8",
    helo: str = "",
    rcpt: str = "",
) -> str:
    dt = c.when(rng)
    rcpt = rcpt or to.split("<")[-1].rstrip(">")
    lines = [
        c.received(rng, helo or "mail." + rng.choice(c.WORLD_DOMAINS), c.ip(rng), rcpt, dt),
        f"Date: {c.rfc_date(dt, rng.choice([0, 1, 2, -4, 9]))}",
        f"From: {frm}",
        f"To: {to}",
        c.fold("Subject", c.encoded_word(subject)),
        f"Message-ID: {own}",
        *(extra or []),
        "MIME-Version: 1.0",
        ctype,
    ]
    return "\n".join(lines) + "\n"


def personal_reply(rng: random.Random, i: int) -> Msg:
    wname, waddr = _world(rng)
    uname, uaddr = _user(rng)
    lang = rng.choice(c.LANGS)
    parent = c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE)
    refs = [c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE), parent]
    subject = "Re: " + rng.choice(c.SUBJECTS[lang])
    cte = rng.choice(["8bit", "quoted-printable", "base64"])
    body = c.BODIES[lang] + wname.split()[0] + "\n\n> " + c.BODIES[rng.choice(c.LANGS)].replace("\n", "\n> ")
    own = _world_id(rng, waddr)
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        c.mailbox(uname, uaddr),
        subject,
        own,
        [
            f"In-Reply-To: {parent}",
            c.fold("References", " ".join(refs)),
            f"User-Agent: {rng.choice(c.USER_AGENTS)}",
            f"Content-Transfer-Encoding: {cte}",
        ],
    )
    return Msg(hdr + "\n" + c.encode(body, cte), "mua-reply", waddr)


def reply_to_ours(rng: random.Random, i: int) -> Msg:
    """A person answers a message our user sent: In-Reply-To is OUR message."""
    o = c.make_original(rng, thread=False)
    wname, waddr = o.recipient_names[0] or "Someone", o.recipients[0]
    own = c.world_msgid(rng, waddr.split("@")[1], o.date)
    style = i % 3
    if style == 0:
        body = f"Thanks, got it.\n\nOn {o.date.strftime('%d.%m.%Y')} {o.display} wrote:\n" + quote_block(
            o.body, "gt"
        )
    elif style == 1:
        body = (
            "Sounds good, see you then.\n\n-----Original Message-----\n"
            f"From: {o.display} <{o.sender}>\nSent: {o.date.strftime('%A, %B %d, %Y %I:%M %p')}\n"
            f"To: {waddr}\nSubject: {o.subject}\n\n{o.body}"
        )
    else:
        body = "Here are my comments inline.\n\n" + quote_block(
            o.headers(received=False) + "\n" + o.body, "gt"
        )
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        o.from_header,
        "Re: " + o.subject,
        own,
        [f"In-Reply-To: {o.message_id}", f"References: {o.message_id}", "Content-Transfer-Encoding: 8bit"],
    )
    return Msg(hdr + "\n" + body, "mua-reply-to-our-message", waddr, original=o)


def list_post(rng: random.Random, i: int) -> Msg:
    lst = rng.choice(["users", "devel", "announce", "discuss", "help"]) + "@lists.example.org"
    local, dom = lst.split("@")
    wname, waddr = _world(rng)
    uname, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    extra = [
        f"List-Id: {local.capitalize()} discussion <{local}.{dom}>",
        f"List-Post: <mailto:{lst}>",
        f"List-Unsubscribe: <https://{dom}/mailman3/lists/{local}.{dom}/>, <mailto:{local}-leave@{dom}>",
        f"List-Archive: <https://{dom}/archives/list/{lst}/>",
        f'Sender: "{local}" <{local}-bounces@{dom}>',
        f"Precedence: {rng.choice(['list', 'bulk'])}",
        f"Errors-To: {local}-bounces@{dom}",
    ]
    subject = (
        f"[{local.capitalize()}] "
        + rng.choice(["Re: ", ""])
        + rng.choice(
            [
                "build fails on arm64",
                "release 2.4 planning",
                "question about TLS settings",
                "Out of office etiquette?",
                "mail delivery failed after upgrade",
                "Returned mail in logs",
                "virus scanner integration",
            ]
        )
    )
    ours = None
    if i % 4 == 0:
        ours = c.make_original(rng, thread=False)
        extra += [f"In-Reply-To: {ours.message_id}", f"References: {ours.message_id}"]
        ours.recipients = [lst]
    body = (
        "I see the same on my side.\n\n" + "_" * 47 + f"\n{local} mailing list -- {lst}\n"
        f"To unsubscribe send an email to {local}-leave@{dom}\n"
    )
    hdr = _head(
        rng, c.mailbox(wname, waddr), lst, subject, own, extra, helo="mail." + dom, rcpt=uaddr
    )
    mail_from = f"{local}-bounces+{uaddr.replace('@', '=')}@{dom}"
    del uname
    return Msg(hdr + "\n" + body, "mailman3-list-post", mail_from, kind="any", original=ours)


def newsletter(rng: random.Random, i: int) -> Msg:
    brand = rng.choice(["Shop", "Travel", "News", "Bank", "Cinema", "Garden"])
    dom = brand.lower() + ".example"
    uname, uaddr = _user(rng)
    own = f"<{c.hexs(rng, 16, False)}.{rng.randrange(10**6, 10**7)}@mailer.{dom}>"
    bnd = c.boundary(rng)
    text = (
        f"{brand} weekly\n\nOur offers this week: 20% off everything.\n\nUnsubscribe: "
        f"https://{dom}/u/{c.token(rng, 12)}\n"
    )
    html_body = (
        f"<html><body><h1>{brand} weekly</h1><p>Our offers this week: <b>20% off</b>.</p>"
        f'<p><a href="https://{dom}/u/{c.token(rng, 12)}">Unsubscribe</a></p></body></html>\n'
    )
    body = c.multipart(
        bnd,
        [
            c.part("text/plain", text, cte="quoted-printable"),
            c.part("text/html", html_body, cte=rng.choice(["base64", "quoted-printable"])),
        ],
    )
    extra = [
        f"List-Unsubscribe: <https://{dom}/u/{c.token(rng, 12)}>, <mailto:unsub-{c.token(rng, 10)}@{dom}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: bulk",
        f"X-Campaign-ID: {rng.randrange(10**5, 10**6)}",
        f"Feedback-ID: {rng.randrange(1000)}:newsletter:{dom}",
    ]
    hdr = _head(
        rng,
        f"{brand} <newsletter@{dom}>",
        uaddr,
        f"{brand} weekly: offers for you",
        own,
        extra,
        ctype=f'Content-Type: multipart/alternative; boundary="{bnd}"',
        helo="mailer." + dom,
    )
    del uname
    return Msg(hdr + "\n" + body, "esp-newsletter", f"bounce-{c.token(rng, 16)}@mailer.{dom}")


def calendar(rng: random.Random, i: int) -> Msg:
    wname, waddr = _world(rng)
    uname, uaddr = _user(rng)
    method = ["REQUEST", "REPLY", "CANCEL"][i % 3]
    uid = f"{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    start = c.when(rng) + timedelta(days=7)
    ics = (
        f"BEGIN:VCALENDAR\nPRODID:-//Example Corp//Calendar "
        f"1.0//EN\nVERSION:2.0\nMETHOD:{method}\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:{c.BASE_DATE.strftime('%Y%m%dT%H%M%SZ')}\nDTSTART:{start.strftime('%Y%m%dT%H%M%SZ')}\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime('%Y%m%dT%H%M%SZ')}\nSUMMARY:Project review\n"
        f"ORGANIZER;CN={wname}:mailto:{waddr}\n"
        f"ATTENDEE;PARTSTAT={'ACCEPTED' if method == 'REPLY' else 'NEEDS-ACTION'}"
        f";CN={uname}:mailto:{uaddr}\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    bnd = c.boundary(rng)
    subject = {
        "REQUEST": "Invitation: Project review",
        "REPLY": "Accepted: Project review",
        "CANCEL": "Canceled: Project review",
    }[method]
    body = c.multipart(
        bnd,
        [
            c.part("text/plain", f"{subject}\nWhen: {start.strftime('%A %d %B %Y %H:%M')} UTC\n"),
            c.part(f"text/calendar; method={method}", ics, cte="base64"),
        ],
    )
    own = _world_id(rng, waddr)
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        c.mailbox(uname, uaddr),
        subject,
        own,
        ctype=f'Content-Type: multipart/alternative; boundary="{bnd}"',
    )
    return Msg(hdr + "\n" + body, "calendar-itip", waddr)


NOTIFY = [
    ("GitHub", "notifications@github.example", "Re: [acme/widget] Fix the parser (PR #{n})", True),
    ("Monitoring", "alerts@monitor.example", "[FIRING:1] DiskFull on db{n}", False),
    ("Shop orders", "no-reply@shop.example", "Your order {n} has shipped", False),
    ("Accounts", "no-reply@accounts.example", "Security alert: new sign-in", False),
    ("CI", "ci@build.example", "Build #{n} passed", True),
    ("Calendar", "calendar-notification@cal.example", "Reminder: Project review @ 10:00", False),
]


def notification(rng: random.Random, i: int) -> Msg:
    """Service notifications with Auto-Submitted: auto-generated (RFC 3834: not a reply)."""
    name, addr, subj, threaded = NOTIFY[i % len(NOTIFY)]
    _, uaddr = _user(rng)
    n = rng.randrange(100, 9999)
    dom = addr.split("@")[1]
    own = f"<{c.token(rng, 20)}.{n}@{dom}>"
    extra = ["Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All"]
    if threaded:
        thread = f"<acme/widget/pull/{n}@{dom}>"
        extra += [
            f"In-Reply-To: {thread}",
            f"References: {thread}",
            "Precedence: list",
            f"List-ID: acme/widget <widget.acme.{dom}>",
        ]
    body = f"{subj.format(n=n)}\n\nThis is an automated message. Do not reply.\n"
    hdr = _head(rng, f"{name} <{addr}>", uaddr, subj.format(n=n), own, extra, helo="out." + dom)
    return Msg(hdr + "\n" + body, "service-notification", f"bounces+{c.token(rng, 10)}@{dom}", kind="any")


def bugtracker(rng: random.Random, i: int) -> Msg:
    """Bug-tracker mail: 'daemon' in From, Auto-Submitted, In-Reply-To to the tracker's own IDs."""
    _, uaddr = _user(rng)
    bug = rng.randrange(10000, 99999)
    style = i % 3
    if style == 0:
        frm, mail_from = "bugzilla-daemon@bugs.example.org", "bugzilla-daemon@bugs.example.org"
        own = f"<bug-{bug}-{rng.randrange(100, 999)}-{c.token(rng, 10)}@https.bugs.example.org/>"
        thread = f"<bug-{bug}-{rng.randrange(100, 999)}@https.bugs.example.org/>"
        extra = [
            "Auto-Submitted: auto-generated",
            f"In-Reply-To: {thread}",
            f"References: {thread}",
            "X-Bugzilla-Product: Widget",
            "X-Bugzilla-Status: NEW",
            "X-Bugzilla-Reason: CC",
        ]
        subject = f"[Bug {bug}] Crash when opening large files"
    elif style == 1:
        frm, mail_from = "Debian Bug Tracking System <owner@bugs.example.org>", "debbugs@bugs.example.org"
        own = f"<handler.{bug}.B.{rng.randrange(10**9, 10**10)}.{rng.randrange(1000)}@bugs.example.org>"
        thread = f"<{c.hexs(rng, 16, False)}@example.net>"
        extra = [
            f"In-Reply-To: {thread}",
            f"References: {thread}",
            "X-Debian-PR-Message: ack " + str(bug),
            "Precedence: bulk",
            "X-Loop: owner@bugs.example.org",
        ]
        subject = f"Bug#{bug}: Acknowledgement (widget: segfault on start)"
    else:
        frm, mail_from = "Jira (MAILER) <jira@tracker.example>", "jira@tracker.example"
        own = f"<JIRA.{rng.randrange(100000, 999999)}.{rng.randrange(10**12, 10**13)}@Atlassian.JIRA>"
        thread = f"<JIRA.{rng.randrange(100000, 999999)}.{rng.randrange(10**12, 10**13)}@Atlassian.JIRA>"
        extra = [
            "Auto-Submitted: auto-generated",
            f"In-Reply-To: {thread}",
            f"References: {thread}",
            "X-JIRA-FingerPrint: " + c.hexs(rng, 32, False),
        ]
        subject = f"[JIRA] (OPS-{bug}) Mail delivery failure on relay"
    body = f"Comment #{rng.randrange(1, 20)} on bug {bug}:\nI can reproduce this with the latest build.\n"
    hdr = _head(rng, frm, uaddr, subject, own, extra, helo="bugs.example.org")
    return Msg(hdr + "\n" + body, "bug-tracker", mail_from, kind="any")


def forwarded(rng: random.Random, i: int) -> Msg:
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    inner_from = _world(rng)
    inner_id = c.world_msgid(rng, inner_from[1].split("@")[1], c.BASE_DATE)
    inner = (
        f"From: {inner_from[0]} <{inner_from[1]}>\nTo: {waddr}\nSubject: Offer\nMessage-ID: {inner_id}\n"
        f"Date: {c.rfc_date(c.BASE_DATE)}\nIn-Reply-To: {c.world_msgid(rng, 'example.com', c.BASE_DATE)}\n"
        "Content-Type: text/plain; charset=utf-8\n\nHere is our offer.\n"
    )
    own = _world_id(rng, waddr)
    if i % 2 == 0:
        bnd = c.boundary(rng)
        body = c.multipart(
            bnd,
            [
                c.part("text/plain", "FYI, see the attached message.\n"),
                'Content-Type: message/rfc822\nContent-Disposition: attachment; filename="Offer.eml"\n\n'
                + inner,
            ],
        )
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    else:
        body = "FYI\n\n---------- Forwarded message ---------\n" + inner.replace(
            "Content-Type: text/plain; charset=utf-8\n", ""
        )
        ctype = "Content-Type: text/plain; charset=utf-8"
    hdr = _head(rng, c.mailbox(wname, waddr), uaddr, "Fwd: Offer", own, ctype=ctype)
    return Msg(hdr + "\n" + body, "mua-forward", waddr)


def _bounce_text(rng: random.Random, sender: str, rcpt: str, msg_id: str) -> str:
    return (
        "This is the mail system at host mx.example.com.\n\nI'm sorry to have to inform you that your "
        "message "
        "could not\nbe delivered to one or more recipients.\n\n"
        f"<{rcpt}>: host mx.example.com said: 550 5.1.1 User unknown\n\n"
        f"Reporting-MTA: dns; mx.example.com\nFinal-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: "
        f"5.1.1\n\n"
        f"From: {sender}\nTo: {rcpt}\nSubject: Hello\nMessage-ID: {msg_id}\n"
    )


def forwarded_bounce(rng: random.Random, i: int) -> Msg:
    """A person at another site forwards a bounce they received: ordinary mail from a human."""
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    their_id = _world_id(rng, waddr)
    bounced = _bounce_text(rng, waddr, f"{c.OUR_PEOPLE[i % 26][1]}.old@{c.SITE}", their_id)
    own = _world_id(rng, waddr)
    if i % 2:
        bnd = c.boundary(rng)
        inner = (
            f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nTo: {waddr}\n"
            f"Subject: Undelivered Mail Returned to Sender\nMessage-ID: "
            f"{c.world_msgid(rng, 'mx.example.com', c.BASE_DATE)}\n"
            "Content-Type: text/plain; charset=us-ascii\n\n" + bounced
        )
        body = c.multipart(
            bnd,
            [
                c.part(
                    "text/plain",
                    "Hi, my mail to your colleague bounced, see attached. Is there a new address?\n",
                ),
                c.rfc822_part(inner),
            ],
        )
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    else:
        body = (
            "Hi, my mail to your colleague bounced, see below. Is there a new address?\n\n"
            "----- Forwarded message -----\n" + bounced
        )
        ctype = "Content-Type: text/plain; charset=utf-8"
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        uaddr,
        "Fwd: Undelivered Mail Returned to Sender",
        own,
        ctype=ctype,
    )
    return Msg(hdr + "\n" + body, "mua-forwarded-bounce", waddr, kind="any")


def quotes_bounce(rng: random.Random, i: int) -> Msg:
    """Helpdesk talk that quotes a bounce (with '> ' and a quoted Message-ID) in its body."""
    wname, waddr = _world(rng)
    _user(rng)  # drawn but unused: keeps the seeded sequence (and the files) stable
    fake_id = c.world_msgid(rng, "example.com", c.BASE_DATE)
    quoted = quote_block(_bounce_text(rng, waddr, f"sales@{c.SITE}", fake_id), "gt")
    own = _world_id(rng, waddr)
    body = (
        "Hello support,\n\nwhen I write to your sales address I get this back. Can you check?\n\n"
        + quoted
        + "\n--- Below this line is a copy of the message.\n(I removed the rest)\n\nThanks\n"
        + wname
        + "\n"
    )
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        f"support@{c.SITE}",
        rng.choice(["Your mail server rejects my mail", "Re: delivery problem", "Mail returned"]),
        own,
    )
    return Msg(hdr + "\n" + body, "mua-quotes-bounce", waddr, kind="any")


FOOTERS = [
    "No virus found in this message.\nChecked by AVG - www.avg.example\nVersion: 2016.0.8013 / Virus "
    "Database: 4747/13472 - Release Date: 11/20/26",
    "---\nThis email has been checked for viruses by Avast antivirus software.\nhttps://www.avast.example/antivirus",
    "This message has been scanned for viruses and dangerous content by MailScanner, and is\nbelieved to "
    "be clean.",
    "-- \nScanned by ClamAV - no virus found",
]


def virus_footer(rng: random.Random, i: int) -> Msg:
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    extra = [
        "X-Virus-Scanned: clamav-milter 1.0.7 at mail.example.com",
        "X-Virus-Status: Clean",
        "X-MailScanner: Found to be clean",
    ][: 1 + i % 3]
    subject = rng.choice(
        ["Minutes of the meeting", "Re: virus scan results for the laptop", "Invoice attached"]
    )
    body = "Hi,\n\nplease see the minutes below.\n\n" + FOOTERS[i % len(FOOTERS)] + "\n"
    hdr = _head(rng, c.mailbox(wname, waddr), uaddr, subject, own, extra)
    return Msg(hdr + "\n" + body, "mua-virus-footer", waddr, kind="any")


CHARSETS = [
    ("iso-8859-1", "de"),
    ("iso-8859-15", "fr"),
    ("windows-1252", "es"),
    ("iso-2022-jp", "ja"),
    ("shift_jis", "ja"),
    ("koi8-r", "ru"),
    ("utf-8", "sv"),
    ("iso-8859-2", "pl"),
    ("utf-8", "pt"),
]
EXTRA_TEXT = {
    "ru": "Здравствуйте! Высылаю документы по проекту.\n",
    "pl": "Dzień dobry, przesyłam zamówienie.\n",
}


def non_english(rng: random.Random, i: int) -> Msg:
    charset, lang = CHARSETS[i % len(CHARSETS)]
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    text = EXTRA_TEXT.get(lang) or c.BODIES[lang]
    subject = (c.SUBJECTS.get(lang) or ["Документы по проекту" if lang == "ru" else "Zamówienie nr 12/2026"])[
        0
    ]
    own = _world_id(rng, waddr)
    if charset in ("iso-2022-jp",):
        cte, raw_charset = "7bit", charset
    else:
        cte, raw_charset = rng.choice(["8bit", "8bit", "quoted-printable", "base64"]), charset
    declared = f"Content-Type: text/plain; charset={charset}" if i % 5 else "Content-Type: text/plain"
    subj_header = c.encoded_word(subject, "utf-8", b=bool(i % 2))
    hdr = _head(
        rng,
        c.mailbox(wname, waddr),
        uaddr,
        "",
        own,
        [f"Content-Transfer-Encoding: {cte}"],
        ctype=declared,
    )
    hdr = hdr.replace("Subject: \n", f"Subject: {subj_header}\n").replace(
        "Subject:\n", f"Subject: {subj_header}\n"
    )
    if cte in ("base64", "quoted-printable"):
        body = c.b64_body(text.encode(raw_charset)) if cte == "base64" else c.qp_body(text, raw_charset)
        return Msg(hdr + "\n" + body, f"mua-{charset}", waddr)
    # 8-bit or ISO-2022-JP: written in the declared charset (the file is not UTF-8).
    return Msg(hdr + "\n" + text, f"mua-{charset}", waddr, charset=raw_charset)


def html_mail(rng: random.Random, i: int) -> Msg:
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    ref = c.world_msgid(rng, "example.net", c.BASE_DATE)
    html_body = (
        "<html><body><p>Hello,</p><p>as discussed, the ticket &lt;" + ref[1:-1] + "&gt; is closed.</p>"
        "<blockquote>Original message headers:<br>Message-ID: &lt;" + ref[1:-1] + "&gt;</blockquote>"
        "</body></html>\n"
    )
    if i % 2:
        bnd = c.boundary(rng)
        body = c.multipart(
            bnd,
            [
                c.part("text/plain", "Hello,\nas discussed, the ticket is closed.\n"),
                c.part("text/html", html_body, cte="quoted-printable"),
            ],
        )
        ctype = f'Content-Type: multipart/alternative; boundary="{bnd}"'
    else:
        body, ctype = html_body, "Content-Type: text/html; charset=utf-8"
    hdr = _head(rng, c.mailbox(wname, waddr), uaddr, "Ticket closed", own, ctype=ctype)
    return Msg(hdr + "\n" + body, "html-mail", waddr)


def null_sender_notice(rng: random.Random, i: int) -> Msg:
    """Null-sender mail that is not backscatter and names no original (e.g. Exchange meeting notices)."""
    _, uaddr = _user(rng)
    own = c.world_msgid(rng, "exchange.example.com", c.BASE_DATE)
    subject = [
        "Meeting Forward Notification: Project review",
        "Your mailbox is almost full",
        "Quota warning",
    ][i % 3]
    body = {
        0: "Your meeting was forwarded by a participant. The new attendee has been added.\n",
        1: "Your mailbox has reached 90% of its quota. Please delete old items.\n",
        2: "Mailbox size: 1.9 GB of 2 GB.\n",
    }[i % 3]
    hdr = _head(
        rng,
        "Microsoft Outlook <no-reply@exchange.example.com>",
        uaddr,
        subject,
        own,
        ["Auto-Submitted: auto-generated"],
        helo="exchange.example.com",
    )
    return Msg(hdr + "\n" + body, "null-sender-notice", "", kind="any")


CATEGORIES: list[tuple[str, Maker, int]] = [
    ("personal-reply", personal_reply, 35),
    ("reply-to-ours", reply_to_ours, 30),
    ("mailing-list", list_post, 40),
    ("newsletter", newsletter, 30),
    ("calendar", calendar, 20),
    ("notification", notification, 35),
    ("bugtracker", bugtracker, 21),
    ("forwarded", forwarded, 20),
    ("forwarded-bounce", forwarded_bounce, 12),
    ("quotes-bounce", quotes_bounce, 20),
    ("virus-footer", virus_footer, 16),
    ("non-english", non_english, 30),
    ("html", html_mail, 20),
    ("null-sender-notice", null_sender_notice, 6),
]


def samples() -> Iterator[c.Sample]:
    from tests.corpus.generate import ordinary_more  # it builds on this module's helpers

    for category, maker, count in CATEGORIES + ordinary_more.CATEGORIES:
        rng = c.rng_for("ordinary/" + category)
        for index in range(count):
            msg = maker(rng, index)
            meta = c.sidecar(
                fmt=msg.fmt,
                generated_by=DESC + msg.fmt.replace("-", " "),
                mail_from=msg.mail_from,
                rcpt=[_to_address(msg.raw)],
                kind=msg.kind,
                references=[],
                must_not=[],
                rcpts_of_original=[],
                original=msg.original,
                ordinary=True,
            )
            eol = rng.choice(["lf", "lf", "crlf", "mixed"]) if msg.charset == "utf-8" else "lf"
            yield c.Sample(
                "ordinary", category, f"{category}-{index + 1:03d}", msg.raw, meta, eol, msg.charset
            )


def _to_address(raw: str) -> str:
    """Our user this was delivered to (from our MX's Received 'for <...>')."""
    marker = "\tfor <"
    start = raw.index(marker) + len(marker)
    return raw[start : raw.index(">", start)]
