"""Ordinary mail that trips bounce detectors (issue 8): none of it may be refused or tagged.

Each category carries a signal that backscatter carries too, on mail that is
not backscatter:

* C/R users: TMDA stamps ``X-Delivery-Agent: TMDA/...`` and an
  ``X-TMDA-Fingerprint`` on every message its user sends (TMDA's documented
  outgoing headers), so their list posts and replies carry them, often with
  "your message" or "confirm" in quoted text; other C/R products' agent headers
  the same way;
* list traffic: RFC 2369 ``List-*`` headers, ``Precedence: bulk/list``, Mailman
  2/3, Sympa, Google Groups and LISTSERV conventions, subjects about bounces,
  vacations, viruses and confirmations;
* notifications: RFC 3834 ``Auto-Submitted: auto-generated`` from CI, bug
  trackers, monitoring and calendars, with noreply/mailer/daemon-ish senders;
* people writing about bounces, out-of-office replies and viruses;
* bounces forwarded by a person (attached as ``message/rfc822`` or inline);
* MIME edge cases: rfc822 forwards, broken MIME, 8-bit junk;
* newsletters from noreply/mailer senders with words the subject patterns know.

Samples are written from the formats' public descriptions, seeded per category.
"""

from __future__ import annotations

import random

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import quote_block
from tests.corpus.generate.ordinary import Maker, Msg, _head, _user, _world, _world_id

LISTS = [
    # (software, list address, envelope sender pattern, extra headers)
    ("mailman2", "users@lists.example.org"),
    ("mailman3", "devel@lists.example.net"),
    ("sympa", "discuss@sympa.example.com"),
    ("googlegroups", "widget-dev@googlegroups.example"),
    ("listserv", "HAMRADIO@LISTSERV.EXAMPLE.EDU"),
]

TRAP_SUBJECTS = [
    "Undelivered mail after the server move",
    "Out of office next week?",
    "virus scan results",
    "Mail delivery failed for some subscribers",
    "Returned mail in the logs",
    "Please confirm your message format",
    "Auto-reply loops with the tracker",
    "Request to join the steering group",
    "Subscription confirmation emails not arriving",
    "Delivery Status Notification (Failure) from Gmail",
    "Your message was rejected by the filter?",
    "Virus found in attachment - false positive?",
    "Automatic reply settings in Exchange",
    "non-delivery reports from the relay",
    "Infected files on the share",
    "Challenge-response systems are evil",
    "Please verify your email setup",
    "Away from the office tips",
]

QUOTED_WORDS = [
    "> Your message has been held until the moderator approves it.\n"
    "> Please confirm your message by replying.\n",
    "> I sent your message on to the list owner.\n> Did you get a confirmation?\n",
    "> This confirmation verifies that your message is legitimate and not junk-mail.\n"
    "> (that is what TMDA sends to strangers, right?)\n",
    "> Please confirm that you sent this message.\n> -- the old challenge text\n",
    "> your original message has been held\n",
]


TMDA_VERSIONS = ["1.1.12 (Macallan)", "1.2.2 (Sceptre)", "1.3.2 (Bell Island)"]
BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _list_headers(rng: random.Random, software: str, lst: str) -> tuple[list[str], str]:
    """RFC 2369 / RFC 2919 headers of a list post and the envelope sender (VERP or not)."""
    local, dom = lst.split("@")
    if software == "mailman2":
        extra = [
            f"List-Id: {local.capitalize()} list <{local}.{dom}>",
            f"List-Unsubscribe: <https://{dom}/mailman/options/{local}>, "
            f"<mailto:{local}-request@{dom}?subject=unsubscribe>",
            f"List-Archive: <https://{dom}/pipermail/{local}/>",
            f"List-Post: <mailto:{lst}>",
            f"List-Help: <mailto:{local}-request@{dom}?subject=help>",
            f"List-Subscribe: <https://{dom}/mailman/listinfo/{local}>, "
            f"<mailto:{local}-request@{dom}?subject=subscribe>",
            "X-Mailman-Version: 2.1.39",
            "Precedence: list",
            f"Errors-To: {local}-bounces@{dom}",
            f"Sender: \"{local}\" <{local}-bounces@{dom}>",
        ]
        return extra, f"{local}-bounces@{dom}"
    if software == "mailman3":
        extra = [
            f"List-Id: <{local}.{dom}>",
            f"List-Post: <mailto:{lst}>",
            f"List-Unsubscribe: <mailto:{local}-leave@{dom}>",
            f"List-Archive: <https://{dom}/hyperkitty/list/{lst}/>",
            f"List-Help: <mailto:{local}-request@{dom}?subject=help>",
            "X-Mailman-Version: 3.3.8",
            f"Precedence: {rng.choice(['list', 'bulk'])}",
        ]
        return extra, f"{local}-bounces+{c.token(rng, 8)}@{dom}"
    if software == "sympa":
        extra = [
            f"List-Id: <{local}.{dom}>",
            f"List-Archive: <https://{dom}/sympa/arc/{local}>",
            f"List-Help: <mailto:sympa@{dom}?subject=help>",
            f"List-Owner: <mailto:{local}-request@{dom}>",
            f"List-Post: <mailto:{lst}>",
            f"List-Subscribe: <mailto:sympa@{dom}?subject=subscribe%20{local}>",
            f"List-Unsubscribe: <mailto:sympa@{dom}?subject=unsubscribe%20{local}>",
            "Precedence: list",
            f"X-Sympa-To: {lst}",
            f"X-Loop: {lst}",
        ]
        return extra, f"{local}-owner@{dom}"
    if software == "googlegroups":
        extra = [
            f"Mailing-list: list {lst}; contact {local}+owners@{dom}",
            f"List-ID: <{local}.{dom}>",
            f"X-Google-Group-Id: {rng.randrange(10**11, 10**12)}",
            f"List-Post: <https://groups.{dom}/group/{local}/post>, <mailto:{lst}>",
            f"List-Help: <https://support.{dom}/>, <mailto:{local}+help@{dom}>",
            f"List-Archive: <https://groups.{dom}/group/{local}/>",
            f"List-Unsubscribe: <mailto:{local}+unsubscribe@{dom}>, <https://groups.{dom}/group/{local}/subscribe>",
            "Precedence: list",
        ]
        return extra, f"{local}+bncBD{c.token(rng, 20).upper()}@{dom}"
    extra = [
        f"Sender: {local} list <{lst}>",
        f"List-Help: <http://{dom}/cgi-bin/wa?LIST={local}>, <mailto:LISTSERV@{dom}>",
        f"List-Unsubscribe: <mailto:{local}-unsubscribe-request@{dom}>",
        f"List-Subscribe: <mailto:{local}-subscribe-request@{dom}>",
        f"List-Owner: <mailto:{local}-request@{dom}>",
        f"List-Archive: <http://{dom}/cgi-bin/wa?LIST={local}>",
        "Precedence: bulk",
    ]
    return extra, f"owner-{local}@{dom}"


def _post_from(rng: random.Random, software: str, lst: str, wname: str, waddr: str) -> str:
    """From of a list post; DMARC mitigation rewrites it on some lists ("X via list")."""
    if software == "googlegroups" and rng.random() < 0.5:
        return f"\"'{wname}' via {lst.split('@')[0]}\" <{lst}>"
    if software in ("mailman2", "mailman3") and rng.random() < 0.3:
        return f"\"{wname} via {lst.split('@')[0]}\" <{lst}>"
    return c.mailbox(wname, waddr)


def tmda_user(rng: random.Random, i: int) -> Msg:
    """A TMDA user's list post or reply: TMDA's agent and fingerprint headers on ordinary mail."""
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    dom = waddr.split("@")[1]
    local = waddr.split("@")[0]
    own = c.world_msgid(rng, dom, c.BASE_DATE)
    parent = c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE)
    extra = [
        f"X-Delivery-Agent: TMDA/{rng.choice(TMDA_VERSIONS)}",
        f"X-TMDA-Fingerprint: {c.token(rng, 27, BASE64_ALPHABET)}",
        f"X-Primary-Address: {waddr}",
        f"User-Agent: {rng.choice(c.USER_AGENTS)}",
    ]
    frm_addr = waddr
    if i % 4 == 1:  # TMDA "dated" and "keyword" tagged addresses on the From line
        frm_addr = f"{local}-dated-{1795000000 + rng.randrange(10**6)}.{c.hexs(rng, 6, False)}@{dom}"
    elif i % 4 == 2:
        frm_addr = f"{local}-keyword-{rng.choice(['lists', 'work', 'widget'])}.{c.hexs(rng, 6, False)}@{dom}"
    quoted = QUOTED_WORDS[i % len(QUOTED_WORDS)]
    body = (
        f"{rng.choice(['Agreed.', 'I see the same here.', 'Thanks, that fixed it.', 'See below.'])}\n\n"
        f"On {c.rfc_date(c.BASE_DATE)}, someone wrote:\n{quoted}\n-- \n{wname}\n"
    )
    style = i % 3
    if style == 0:  # a list post
        software, lst = LISTS[i % len(LISTS)]
        lhead, mail_from = _list_headers(rng, software, lst)
        tag = lst.split("@")[0].capitalize()
        subject = f"[{tag}] Re: {rng.choice(TRAP_SUBJECTS)}"
        extra += [*lhead, f"In-Reply-To: {parent}", f"References: {parent}"]
        frm = _post_from(rng, software, lst, wname, frm_addr)
        hdr = _head(rng, frm, lst, subject, own, extra, helo="mail." + lst.split("@")[1], rcpt=uaddr)
        return Msg(hdr + "\n" + body, "tmda-user-list-post", mail_from)
    if style == 1:  # a reply to our user
        subject = "Re: " + rng.choice(c.SUBJECTS["en"] + TRAP_SUBJECTS)
        extra += [f"In-Reply-To: {parent}", f"References: {parent}"]
        hdr = _head(rng, c.mailbox(wname, frm_addr), uaddr, subject, own, extra)
        return Msg(hdr + "\n" + body, "tmda-user-reply", frm_addr)
    # a fresh message that mentions confirmation in its own words (not a challenge: no confirm address)
    subject = rng.choice(["Can you confirm you got my message?", "Please confirm the meeting",
                          "Your message about the invoice", "Quick question"])
    text = (
        "Hi,\n\nI sent you a message last week about the invoice; could you confirm that you\n"
        "received it? My filter sometimes eats replies.\n\nThanks\n" + wname + "\n"
    )
    hdr = _head(rng, c.mailbox(wname, frm_addr), uaddr, subject, own, extra)
    return Msg(hdr + "\n" + text, "tmda-user-fresh", frm_addr)


# Agent headers other C/R products (and C/R-ish anti-spam gateways) put on their users' outgoing
# mail; written from the products' descriptions, not copied from any product.
OTHER_CR = [
    ["X-Delivery-Agent: ASK 2.5.3 (Active Spam Killer)", "X-AskVersion: 2.5.3"],
    ["X-Challenge-Response: enabled (sender whitelisted)"],
    ["X-Boxbe-Agent: 1.0", "X-Boxbe-Pin: verified"],
    ["X-CR-Challenge: none; outgoing"],
    ["X-Spamarrest-Agent: outbound", "X-Spamarrest-Challenge: not-needed"],
    ["X-Mailer: qconfirm 0.14.3", "X-Qconfirm-Whitelisted: yes"],
    ["X-Challenge: outgoing; sender is a verified user"],
]


def cr_user_other(rng: random.Random, i: int) -> Msg:
    """Users of other C/R products: the product's header on their ordinary mail."""
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    extra = list(OTHER_CR[i % len(OTHER_CR)])
    parent = c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE)
    if i % 2:
        software, lst = LISTS[(i // 2) % len(LISTS)]
        lhead, mail_from = _list_headers(rng, software, lst)
        subject = f"[{lst.split('@')[0].capitalize()}] Re: {rng.choice(TRAP_SUBJECTS)}"
        extra += [*lhead, f"In-Reply-To: {parent}"]
        body = "+1, same here.\n\n" + QUOTED_WORDS[i % len(QUOTED_WORDS)]
        frm = _post_from(rng, software, lst, wname, waddr)
        hdr = _head(rng, frm, lst, subject, own, extra, helo="mail." + lst.split("@")[1], rcpt=uaddr)
        return Msg(hdr + "\n" + body, "cr-user-list-post", mail_from)
    subject = rng.choice(["Re: ", ""]) + rng.choice(c.SUBJECTS["en"] + TRAP_SUBJECTS[:6])
    extra += [f"In-Reply-To: {parent}", f"References: {parent}"]
    body = (
        "Hello,\n\nthanks for your message. Attached the figures you asked for.\n\n"
        f"> {rng.choice(['Could you confirm the numbers?', 'Please verify your totals.'])}\n\nBest\n{wname}\n"
    )
    hdr = _head(rng, c.mailbox(wname, waddr), uaddr, subject, own, extra)
    return Msg(hdr + "\n" + body, "cr-user-reply", waddr)


def list_traffic(rng: random.Random, i: int) -> Msg:
    """List posts whose subjects and quotes carry backscatter words, under list headers."""
    software, lst = LISTS[i % len(LISTS)]
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    lhead, mail_from = _list_headers(rng, software, lst)
    own = _world_id(rng, waddr)
    tag = lst.split("@")[0]
    prefix = rng.choice(["Re: ", "", "Re: Re: ", "AW: ", "Fwd: "])
    subject = (f"[{tag}] " if software != "listserv" else "") + prefix + TRAP_SUBJECTS[i % len(TRAP_SUBJECTS)]
    extra = list(lhead)
    if prefix:
        parent = c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE)
        extra += [f"In-Reply-To: {parent}", f"References: {parent}"]
    body = rng.choice([
        "Our relay started sending non-delivery reports for every message to the old host.\n"
        "Has anyone seen \"550 5.1.1 User unknown\" after a migration?\n",
        "I'll be out of office next week; please cc the list rather than me personally.\n",
        "The scanner flagged the release tarball as infected. It is a false positive, the\n"
        "signature database was updated an hour later.\n",
        "When I post, I get \"Your message has been held for moderation\" - is the list moderated now?\n",
        "Please confirm whether the new subscription confirmation mails arrive for you.\n",
    ])
    body += "\n" + QUOTED_WORDS[(i // 3) % len(QUOTED_WORDS)] if i % 3 == 0 else ""
    footer = f"\n_______________________________________________\n{tag} mailing list\n{lst}\n"
    frm = _post_from(rng, software, lst, wname, waddr)
    hdr = _head(rng, frm, lst, subject, own, extra, helo="mail." + lst.split("@")[1], rcpt=uaddr)
    return Msg(hdr + "\n" + body + footer, f"{software}-list-post", mail_from)


NOTIFIERS = [
    # (From, envelope sender, subject template, extra headers)
    ("Jenkins <jenkins-daemon@ci.example.org>", "jenkins-daemon@ci.example.org",
     "Build failed in Jenkins: mail-delivery-tests #{n}", ["X-Jenkins-Job: mail-delivery-tests"]),
    ("GitLab <gitlab@git.example.com>", "gitlab@git.example.com",
     "widget | Pipeline #{n} has failed for undelivered-mail-fix", ["X-GitLab-Project: widget",
                                                                     "X-GitLab-Pipeline-Id: {n}"]),
    ("GitHub <noreply@github.example>", "noreply@github.example",
     "[acme/mailer] Run failed: Bounce handling tests - main ({n})", ["X-GitHub-Reason: ci_activity"]),
    ("bugzilla-daemon@bugs.example.org", "bugzilla-daemon@bugs.example.org",
     "[Bug {n}] Out of office replies loop between two servers", ["X-Bugzilla-Product: Mail",
                                                                   "X-Bugzilla-Component: MTA"]),
    ("Redmine <redmine@redmine.example.net>", "redmine@redmine.example.net",
     "[Mail - Bug #{n}] (New) Returned mail not forwarded to sender", ["X-Redmine-Project: mail",
                                                                        "X-Redmine-Issue-Id: {n}"]),
    ("Jira <jira@tracker.example>", "jira@tracker.example",
     "[JIRA] (SEC-{n}) Virus found in uploaded attachment", ["X-JIRA-FingerPrint: {h}"]),
    ("Nagios <nagios@monitor.example.com>", "nagios@monitor.example.com",
     "** PROBLEM Service Alert: mx1/SMTP delivery queue is CRITICAL **", ["X-Nagios-Host: mx1"]),
    ("Zabbix <zabbix@zabbix.example.net>", "zabbix@zabbix.example.net",
     "Problem: Mail delivery failure rate over 5% on relay{n}", []),
    ("Alertmanager <alertmanager@prom.example>", "alertmanager@prom.example",
     "[FIRING:1] PostfixUndeliveredMail (relay{n} critical)", []),
    ("Google Calendar <calendar-notification@calendar.example>", "calendar-server@calendar.example",
     "Notification: Out of office @ Mon 7 Dec 2026 (all day)", []),
    ("Mail Delivery Reports <mailer@reports.example.com>", "mailer@reports.example.com",
     "Weekly delivery report: 12 messages not delivered", []),
    ("Security Center <no-reply@security.example>", "no-reply@security.example",
     "Alert: malware detected on a device in your account", []),
    ("Backup daemon <backup-daemon@nas.example.net>", "backup-daemon@nas.example.net",
     "Backup job {n} completed", []),
    ("cron daemon <root@build.example.org>", "root@build.example.org",
     "Cron <root@build> /usr/local/bin/check-mail-queue", ["X-Cron-Env: <SHELL=/bin/sh>"]),
]


def notification_auto(rng: random.Random, i: int) -> Msg:
    """Notifications with Auto-Submitted: auto-generated and daemon/noreply/mailer-ish senders."""
    frm, mail_from, subj, heads = NOTIFIERS[i % len(NOTIFIERS)]
    _, uaddr = _user(rng)
    n = rng.randrange(100, 99999)
    dom = mail_from.split("@")[1]
    own = f"<{c.token(rng, 18)}.{n}@{dom}>"
    extra = [h.format(n=n, h=c.hexs(rng, 32, False)) for h in heads]
    if i % 5 != 4:
        extra.append(rng.choice(["Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated (cron)",
                                 "Auto-Submitted: auto-notified"]))
    if i % 2 == 0:
        thread = f"<{c.token(rng, 12)}.thread.{n}@{dom}>"
        extra += [f"In-Reply-To: {thread}", f"References: {thread}"]
    if i % 3 == 0:
        extra += ["Precedence: bulk", "X-Auto-Response-Suppress: All"]
    subject = subj.format(n=n)
    body = (
        f"{subject}\n\nThis is an automated message; please do not reply.\n"
        f"Details: https://{dom}/item/{n}\n"
    )
    if i % 7 == 3:
        body += "\nLast log lines:\n  status=bounced (host mx.example.com said: 550 5.1.1 User unknown)\n"
    hdr = _head(rng, frm, uaddr, subject, own, extra, helo="out." + dom)
    return Msg(hdr + "\n" + body, "auto-generated-notification", mail_from)


HUMAN_SUBJECTS = [
    "Re: Undelivered mail",
    "Out of office next week?",
    "virus scan results",
    "Re: Mail delivery failed",
    "Returned mail - can you check?",
    "Re: Automatic reply settings",
    "Fwd: Delivery Status Notification (Failure)",
    "Re: your message was not delivered",
    "Re: Virus detected in your email?",
    "Vacation: who covers for me",
    "Re: Out of Office: Lisa",
    "Auto-reply rules for the shared mailbox",
    "Re: Please confirm your message",
    "Re: non-delivery report from your server",
    "Infected laptop - what now?",
    "Undeliverable mail to the old domain",
    "Mail delivery problem with your server",
    "Out of the office until Monday",
]


def human_about(rng: random.Random, i: int) -> Msg:
    """People writing about bounces, out-of-office replies and viruses, in their own words."""
    wname, waddr = _world(rng)
    uname, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    subject = HUMAN_SUBJECTS[i % len(HUMAN_SUBJECTS)]
    extra = [f"User-Agent: {rng.choice(c.USER_AGENTS)}"]
    if subject.lower().startswith(("re:", "fwd:")):
        parent = c.world_msgid(rng, rng.choice(c.WORLD_DOMAINS), c.BASE_DATE)
        extra += [f"In-Reply-To: {parent}", f"References: {parent}"]
    body = rng.choice([
        f"Hi {uname.split()[0]},\n\nmy last two mails to you came back as undeliverable. Is your mailbox "
        "full?\nI am trying again from my private address.\n",
        "Hello,\n\nI will be out of the office next week; could you send the report before Friday?\n",
        "Hi,\n\nthe virus scan of the old laptop found nothing; the IT desk says it is clean.\n"
        "No virus found, so you can use it again.\n",
        "Dear support,\n\nmessages from your server to us are returned with \"mail delivery failed\".\n"
        "Our admin says the problem is on your side. Can you check the logs?\n",
        "Hi,\n\nwhen I write to you I get an automatic reply saying you are away. Is that still on?\n",
        "Hello,\n\nyour message from yesterday was flagged by our scanner as infected, but I think it is\n"
        "a false positive. Could you resend the PDF?\n",
    ])
    if i % 4 == 0:  # quotes our user's earlier words
        body += f"\nOn {c.rfc_date(c.BASE_DATE)}, {uname} wrote:\n" + quote_block(
            "Your message could not be delivered, says my Outlook.\nI'll check with IT.\n", "gt")
    body += f"\nRegards,\n{wname}\n"
    cte = rng.choice(["8bit", "quoted-printable", "7bit"])
    extra.append(f"Content-Transfer-Encoding: {cte}")
    hdr = _head(rng, c.mailbox(wname, waddr), c.mailbox(uname, uaddr), subject,
                own, extra)
    return Msg(hdr + "\n" + c.encode(body, cte) if cte != "7bit" else hdr + "\n" + body,
               "mua-about-backscatter", waddr)


def _inner_dsn(rng: random.Random, waddr: str, lost: str) -> tuple[str, str]:
    """An RFC 3464 report the forwarder received (their bounce, about their own message)."""
    bnd = c.boundary(rng)
    their_id = _world_id(rng, waddr)
    original = (
        f"From: {waddr}\nTo: {lost}\nSubject: Meeting notes\nMessage-ID: {their_id}\n"
        f"Date: {c.rfc_date(c.BASE_DATE)}\n\nNotes attached.\n"
    )
    report = c.multipart(bnd, [
        c.part("text/plain", f"This is the mail system at host mx.example.com.\n\nI'm sorry to have to "
               f"inform you that your message could not\nbe delivered to one or more recipients.\n\n"
               f"<{lost}>: host mx.{lost.split('@')[1]} said: 550 5.1.1 User unknown\n",
               charset="us-ascii"),
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {lost}\nAction: failed\nStatus: 5.1.1\n",
        c.rfc822_part(original),
    ], preamble="This is a MIME-encapsulated message.\n")
    dsn = (
        f"Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nTo: {waddr}\n"
        f"Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: {c.world_msgid(rng, 'mx.example.com', c.BASE_DATE)}\n"
        f"Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{bnd}\"\n\n" + report
    )
    return dsn, their_id


def forwarded_bounce_more(rng: random.Random, i: int) -> Msg:
    """A person forwards a bounce they got to a colleague here: attached whole, or inline."""
    wname, waddr = _world(rng)
    uname, uaddr = _user(rng)
    lost = f"{c.OUR_PEOPLE[i % len(c.OUR_PEOPLE)][1]}.old@{rng.choice(['example.com', 'example.net'])}"
    dsn, _ = _inner_dsn(rng, waddr, lost)
    own = _world_id(rng, waddr)
    subject = rng.choice(["Fwd: Undelivered Mail Returned to Sender", "FW: Mail delivery failed: returning "
                          "message to sender", "Fwd: Delivery Status Notification (Failure)",
                          "WG: Unzustellbar: Meeting notes", "TR: Non remis : Meeting notes",
                          "Fw: Returned mail: see transcript for details"])
    note = f"Hi {uname.split()[0]},\n\nthis came back when I wrote to your old colleague. New address?\n"
    style = i % 3
    if style == 0:
        bnd = c.boundary(rng)
        body = c.multipart(bnd, [c.part("text/plain", note),
                                 'Content-Type: message/rfc822\nContent-Disposition: attachment; '
                                 'filename="bounce.eml"\n\n' + dsn])
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    elif style == 1:
        body = note + "\n---------- Forwarded message ----------\n" + dsn.split("\n\n", 1)[1].split(
            "Content-Type: message/delivery-status")[0]
        ctype = "Content-Type: text/plain; charset=utf-8"
    else:
        body = note + (
            "\n-----Original Message-----\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
            f"Sent: {c.rfc_date(c.BASE_DATE)}\nTo: {waddr}\nSubject: Undelivered Mail Returned to Sender\n\n"
            "I'm sorry to have to inform you that your message could not be delivered.\n\n"
            f"<{lost}>: User unknown\n"
        )
        ctype = "Content-Type: text/plain; charset=utf-8"
    hdr = _head(rng, c.mailbox(wname, waddr), c.mailbox(uname, uaddr), subject,
                own, [f"User-Agent: {rng.choice(c.USER_AGENTS)}"], ctype=ctype)
    return Msg(hdr + "\n" + body, "mua-forwarded-bounce", waddr)


def mime_edge(rng: random.Random, i: int) -> Msg:
    """rfc822 forwards, broken MIME and 8-bit junk from ordinary senders."""
    wname, waddr = _world(rng)
    _, uaddr = _user(rng)
    own = _world_id(rng, waddr)
    inner_id = c.world_msgid(rng, "example.net", c.BASE_DATE)
    inner = (f"From: Someone <someone@example.net>\nTo: {waddr}\nSubject: Offer\nMessage-ID: {inner_id}\n"
             f"Date: {c.rfc_date(c.BASE_DATE)}\n\nHere is the offer.\n")
    style = i % 8
    bnd = c.boundary(rng)
    subject = rng.choice(["Fwd: Offer", "Documents", "Re: the files", "scan", "Fotos", "(no subject)"])
    charset = "utf-8"
    if style == 0:  # nested forward: rfc822 inside rfc822
        body = c.multipart(bnd, [c.part("text/plain", "See the forward below.\n"),
                                 "Content-Type: message/rfc822\n\nFrom: x@example.org\nTo: y@example.org\n"
                                 f"Subject: Fwd: Offer\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
                                 f"boundary=\"in{bnd}\"\n\n--in{bnd}\nContent-Type: text/plain\n\nfwd\n"
                                 f"--in{bnd}\nContent-Type: message/rfc822\n\n{inner}\n--in{bnd}--\n"])
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    elif style == 1:  # declared boundary never used
        body = "--wrong-boundary\nContent-Type: text/plain\n\nHello, files attached.\n--wrong-boundary--\n"
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    elif style == 2:  # unterminated multipart
        body = c.multipart(bnd, [c.part("text/plain", "Hi,\nsee attachment.\n"),
                                 c.part("application/pdf", "%PDF-1.4 junk", cte="base64", charset=None)])
        body = body.rsplit(f"--{bnd}--", 1)[0]
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    elif style == 3:  # multipart without boundary parameter
        body = "Hello,\nthis should have had parts.\n"
        ctype = "Content-Type: multipart/mixed"
    elif style == 4:  # 8-bit junk undeclared
        body = "Gr\xfc\xdfe, \xe9t\xe9 \xa4\xff\xfe junk bytes \x01\x02 in the body\n"
        charset = "latin-1"
        ctype = "Content-Type: text/plain"
    elif style == 5:  # bad base64 and a bogus transfer encoding
        body = c.multipart(bnd, [
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            "SGVsbG8gd29ybGQ=!!!###not base64 at all\n",
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\n"
            "begin 644 a\n`\nend\n",
        ])
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    elif style == 6:  # a forwarded message inline as text/rfc822-headers (a header dump someone sent)
        body = c.multipart(bnd, [c.part("text/plain", "The headers you asked for:\n"),
                                 "Content-Type: text/rfc822-headers\n\n" + inner.split("\n\n")[0] + "\n"])
        ctype = f'Content-Type: multipart/mixed; boundary="{bnd}"'
    else:  # deep-ish nesting of alternatives
        body = c.multipart(bnd, [f"Content-Type: multipart/alternative; boundary=\"a{bnd}\"\n\n"
                                 + c.multipart("a" + bnd, [c.part("text/plain", "plain\n"),
                                                           c.part("text/html", "<p>html</p>\n")]),
                                 c.part("image/png", "PNGDATA", cte="base64", charset=None)])
        ctype = f'Content-Type: multipart/related; boundary="{bnd}"'
    extra = [f"X-Mailer: {rng.choice(['Microsoft Outlook 16.0', 'Apple Mail (2.3731)', 'scanner-v2'])}"]
    hdr = _head(rng, c.mailbox(wname, waddr), uaddr, subject, own, extra, ctype=ctype)
    if style == 4:
        hdr = hdr.replace(f"Subject: {c.encoded_word(subject)}", "Subject: Gr\xfc\xdfe \xa4\xff")
    return Msg(hdr + "\n" + body, "mime-edge", waddr, charset=charset)


NEWSLETTERS = [
    ("Security Digest <noreply@digest.example>", "Your weekly security digest: 3 viruses blocked"),
    ("Parcel Service <mailer@parcels.example>", "Delivery update: your parcel could not be delivered today"),
    ("Travel deals <newsletter@travel.example>", "Out of office? Book your autumn break now"),
    ("Webinar team <no-reply@events.example>", "Reminder: Email deliverability webinar - undelivered mail "
     "explained"),
    ("IT Services <it-noreply@uni.example.edu>", "Phishing and virus alert: fake invoices circulating"),
    ("Store <mailer-daemon-free@shop.example>", "Returned to sender? Free returns this month"),
    ("Community <notifications@forum.example>", "Auto-reply etiquette: this week's top threads"),
]


def newsletter_noreply(rng: random.Random, i: int) -> Msg:
    """Bulk mail from noreply/mailer senders, with words the screen's subject patterns know."""
    frm, subject = NEWSLETTERS[i % len(NEWSLETTERS)]
    dom = frm.split("@")[1].rstrip(">")
    _, uaddr = _user(rng)
    own = f"<{c.hexs(rng, 20, False)}@mail.{dom}>"
    bnd = c.boundary(rng)
    text = f"{subject}\n\nRead online: https://{dom}/n/{c.token(rng, 10)}\n\nUnsubscribe: https://{dom}/u/\n"
    body = c.multipart(bnd, [c.part("text/plain", text, cte="quoted-printable"),
                             c.part("text/html", f"<html><body><h1>{subject}</h1></body></html>\n",
                                    cte="base64")])
    extra = [f"List-Unsubscribe: <https://{dom}/u/{c.token(rng, 12)}>", "List-Unsubscribe-Post: "
             "List-Unsubscribe=One-Click", "Precedence: bulk", f"Feedback-ID: {rng.randrange(999)}:nl:{dom}"]
    if i % 3 == 0:
        extra.append("Auto-Submitted: auto-generated")
    hdr = _head(rng, frm, uaddr, subject, own, extra,
                ctype=f'Content-Type: multipart/alternative; boundary="{bnd}"', helo="mail." + dom)
    return Msg(hdr + "\n" + body, "esp-newsletter-noreply", f"bounce-{c.token(rng, 14)}@mail.{dom}")


CATEGORIES: list[tuple[str, Maker, int]] = [
    ("cr-user-tmda", tmda_user, 90),
    ("cr-user-other", cr_user_other, 56),
    ("list-traffic", list_traffic, 110),
    ("notification-auto", notification_auto, 112),
    ("human-about", human_about, 90),
    ("forwarded-bounce-more", forwarded_bounce_more, 60),
    ("mime-edge", mime_edge, 96),
    ("newsletter-noreply", newsletter_noreply, 70),
]
