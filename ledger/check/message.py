"""A bounded view of a received message for the detectors.

Parsing is the one place where hostile input meets our code, so everything
here is capped: how many bytes are parsed, how deep MIME nests, how many parts
are visited and how much decoded text a part may yield. A message past a limit
is examined on what was read.
"""

from __future__ import annotations

import email
import email.message
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field

from ledger import msgid

MAX_DEPTH = 8
MAX_PARTS = 64
MAX_TEXT_CHARS = 256 * 1024


@dataclass
class Envelope:
    """The SMTP envelope and connection facts of one received message."""

    mail_from: str = ""
    recipients: list[str] = field(default_factory=list)
    client: str = ""
    queue_id: str = ""

    @property
    def null_sender(self) -> bool:
        return self.mail_from in ("", "<>")


def _charset(part: email.message.Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        "".encode(charset)
    except (LookupError, ValueError):
        return "latin-1"
    return charset


def decoded_text(part: email.message.Message, limit: int = MAX_TEXT_CHARS) -> str:
    """The part's payload as text, transfer-decoded, charset-decoded, capped.

    A ``message/*`` part that the parser split into sub-messages (a
    delivery-status or disposition-notification block) comes back as the
    text of those header blocks.
    """
    if part.is_multipart():
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return ""
        texts: list[str] = []
        for block in blocks[:MAX_PARTS]:
            if isinstance(block, email.message.Message):
                try:
                    texts.append(block.as_string())
                except Exception:  # unencodable junk in a header block: skip it
                    continue
        return "\n".join(texts)[:limit]
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # broken base64/qp: fall back to the raw text
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw[:limit] if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return ""
    return payload[: limit * 2].decode(_charset(part), "replace")[:limit]


def attached_message(part: email.message.Message) -> email.message.Message | None:
    """The message inside a ``message/rfc822`` (or ``message/global``) part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        return payload[0]
    return None


@dataclass
class ParsedMessage:
    """A received message, parsed within bounds, with helpers for detectors."""

    message: email.message.Message
    envelope: Envelope
    truncated: bool = False

    @property
    def own_id(self) -> str | None:
        """The bounce's own Message-ID: never a reference to the original."""
        return msgid.normalise(self.header("Message-ID"))

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else str(value)

    @property
    def content_type(self) -> str:
        return self.message.get_content_type()

    def parts(self, into_attached: bool = False) -> Iterator[tuple[int, email.message.Message]]:
        """(depth, part) for every MIME part, depth-first, within the caps.

        An attached message (``message/rfc822``) is yielded but not entered
        unless ``into_attached``: the original's own body and headers are
        not the bounce's words.
        """
        stack: list[tuple[int, email.message.Message]] = [(0, self.message)]
        seen = 0
        while stack and seen < MAX_PARTS:
            depth, part = stack.pop()
            seen += 1
            yield depth, part
            if depth >= MAX_DEPTH or not part.is_multipart():
                continue
            if part.get_content_maintype() == "message" and not into_attached:
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (depth + 1, child) for child in reversed(children)
                    if isinstance(child, email.message.Message)
                )

    def text_parts(self) -> Iterator[tuple[email.message.Message, str]]:
        """Every text/* part of the bounce itself with its decoded text."""
        for _, part in self.parts():
            if part.get_content_maintype() == "text":
                yield part, decoded_text(part)


def parse(raw: bytes, envelope: Envelope | None = None, max_bytes: int = 512 * 1024) -> ParsedMessage:
    """Parse at most ``max_bytes`` of a message. Never raises on bad input."""
    truncated = len(raw) > max_bytes
    data = raw[:max_bytes]
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception:  # the stdlib parser is lenient; this is a last resort
        message = email.message.Message()
    return ParsedMessage(message=message, envelope=envelope or Envelope(), truncated=truncated)
