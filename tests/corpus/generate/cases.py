"""What every backscatter sample is built from: the case (which original, which
of our users receives the notice, which trap) and what a format returns.

Modes:
    normal  the notice is about a message the user really sent (recorded);
    noref   the same, but the notice carries no findable ID of the original;
    forged  the notice is about a message a forger sent in the user's name (an ID
            we never sent); the ledger holds another, real message of the user;
    cross   the notice quotes a real message of one user but goes to another.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.corpus.generate import common as c


@dataclass
class Case:
    rng: random.Random
    index: int
    mode: str
    original: c.Original
    recorded: c.Original | None
    rcpt: str
    host: str
    dt: datetime
    eol: str

    @property
    def quoting(self) -> bool:
        """True when the notice should carry the original's ID."""
        return self.mode != "noref"


@dataclass
class Built:
    """A format's output: the raw text and what it contains."""

    raw: str
    own_id: str | None
    mail_from: str = ""
    has_ref: bool = True
    rcpts_stated: list[str] = field(default_factory=list)
    extra_must_not: list[str] = field(default_factory=list)
    extra_refs: list[str] = field(default_factory=list)
    form: bool = True
    kind: str | None = None
    rcpt: list[str] | None = None


Builder = Callable[[Case], Built]


@dataclass
class Format:
    name: str
    kind: str
    generated_by: str
    build: Builder
    count: int = 4
    noref: bool = True
    forge: bool = True
    modes: tuple[str, ...] = ()
    nrcpt: tuple[int, ...] = (1,)
    list_target: str = ""  # "post": the original went to a list; "request": a list command address


def make_case(fmt: Format, rng: random.Random, index: int) -> Case:
    if fmt.modes:
        mode = fmt.modes[index % len(fmt.modes)]
    else:
        roll = rng.random()
        mode = "normal"
        if fmt.noref and roll < 0.14:
            mode = "noref"
        elif fmt.forge and roll < 0.24:
            mode = "forged"
        elif fmt.forge and roll < 0.29:
            mode = "cross"
    nrcpt = rng.choice(fmt.nrcpt)
    sender = rng.choice(c.OUR_PEOPLE[:26])
    genuine = c.make_original(rng, sender=sender, nrcpt=nrcpt)
    if fmt.list_target:
        _to_list(genuine, fmt.list_target)
    original, recorded, rcpt = genuine, genuine, genuine.sender
    if mode == "forged":
        original = c.make_original(
            rng, sender=sender, nrcpt=nrcpt, genuine=False, thread=False, body_id=False
        )
        if fmt.list_target:
            _to_list(original, fmt.list_target)
    elif mode == "cross":
        other = rng.choice([p for p in c.OUR_PEOPLE[:26] if p != sender])
        rcpt = f"{other[1]}@{c.SITE}"
    host_domain = original.recipients[0].split("@", 1)[1]
    host = rng.choice(["mx", "mx1", "mail", "smtp", "relay", "gw"]) + "." + host_domain
    dt = original.date + timedelta(seconds=rng.randrange(5, 7200))
    eol = rng.choice(["lf", "lf", "crlf", "crlf", "mixed"])
    return Case(rng, index, mode, original, recorded, rcpt, host, dt, eol)


LISTS = ["users", "devel", "announce", "discuss", "jobs", "help", "events"]


def _to_list(original: c.Original, target: str) -> None:
    """Address the original to a mailing list (a post) or its command address."""
    first = original.recipients[0]
    name = LISTS[len(first) % len(LISTS)]
    domain = first.split("@", 1)[1]
    domain = domain if domain.startswith("lists.") else "lists." + domain
    if target == "request":
        original.recipients = [f"{name}-request@{domain}"]
        original.subject = f"subscribe {name}"
        original.body = f"subscribe {name}\n"
    else:
        original.recipients = [f"{name}@{domain}"]
    original.recipient_names = [""]


def head(
    case: Case,
    *,
    frm: str,
    subject: str,
    own_id: str | None,
    ctype: str,
    to: str | None = None,
    extra: list[str] | None = None,
    mime: bool = True,
    received_from: str | None = None,
) -> str:
    """The notice's own header block, as our MX receives it."""
    rng = case.rng
    lines = [c.received(rng, received_from or case.host, c.ip(rng), case.rcpt, case.dt)]
    lines.append(f"Date: {c.rfc_date(case.dt, rng.choice([0, 1, -5, 9]))}")
    lines.append(f"From: {frm}")
    lines.append(f"To: {to or case.rcpt}")
    lines.append(c.fold("Subject", c.encoded_word(subject)))
    if own_id:
        lines.append(f"Message-ID: {own_id}")
    lines += extra or []
    if mime:
        lines.append("MIME-Version: 1.0")
    if ctype:
        lines.append(ctype)
    return "\n".join(lines) + "\n"


def quote_block(text: str, style: str) -> str:
    """Quote a header block the way different notices do."""
    if style == "plain":
        return text
    prefix = {"gt": "> ", "indent": "    ", "tab": "\t"}[style]
    return "".join(prefix + line + "\n" if line else "\n" for line in text.rstrip("\n").split("\n"))


def failure_reason(rng: random.Random, rcpt: str) -> tuple[str, str]:
    """(status, diagnostic) of a permanent failure for one recipient."""
    local = rcpt.split("@")[0]
    return rng.choice(
        [
            (
                "5.1.1",
                f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
            ),
            ("5.1.1", f"550 5.1.1 The email account that you tried to reach does not exist ({local})"),
            ("5.2.2", f"552 5.2.2 <{rcpt}>: mailbox full"),
            ("5.7.1", "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.example"),
            ("5.1.1", f"550 5.1.1 <{rcpt}>... User unknown"),
            ("5.2.1", "550 5.2.1 This mailbox has been disabled"),
        ]
    )
