"""Deterministic mutations of mail messages, for the fuzzer (scripts/fuzz.py).

Each mutation takes a message and a ``random.Random`` and returns a damaged
copy of the kinds real bounces and hostile senders produce: flipped bytes,
truncation, duplicated header fields, damaged MIME boundaries, deep nesting,
huge header lines, 8-bit garbage, mixed line ends, broken base64 and
quoted-printable, and junk RFC 2047 encoded words. The same seed and message
give the same output. Outputs stay below ``MAX_OUTPUT`` bytes, so one input
costs bounded memory.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

MAX_OUTPUT = 512 * 1024  # well past what the milter hands the check (max_bytes of header, as much body)
_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?', re.IGNORECASE)
_HEADER_LINE = re.compile(rb"(?m)^[A-Za-z][A-Za-z0-9-]*:[^\r\n]*\r?\n")


def _head_end(raw: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return at
    return len(raw)


def byte_flips(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw or b"x")
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def duplicate_header(raw: bytes, rng: random.Random) -> bytes:
    lines = list(_HEADER_LINE.finditer(raw))
    if not lines:
        return raw
    line = rng.choice(lines)
    return raw[: line.start()] + line.group(0) * rng.choice((2, 3, 10, 200, 2000)) + raw[line.start():]


def damage_boundary(raw: bytes, rng: random.Random) -> bytes:
    found = _BOUNDARY.search(raw)
    if not found:
        return raw
    boundary = found.group(1)
    choice = rng.randrange(5)
    if choice == 0:  # the declared boundary differs from the one used
        return raw[: found.start(1)] + boundary[:-1] + b"X" + raw[found.end(1):]
    if choice == 1:  # no closing delimiter
        return raw.replace(b"--" + boundary + b"--", b"")
    if choice == 2:  # every delimiter line loses its dashes
        return raw.replace(b"\n--" + boundary, b"\n" + boundary)
    if choice == 3:  # an empty boundary
        return raw[: found.start(1)] + raw[found.end(1):]
    return raw.replace(b"--" + boundary, b"--" + boundary + b"--", rng.randint(1, 3))


def deep_nesting(raw: bytes, rng: random.Random) -> bytes:
    """The message wrapped in many levels of multipart and message/rfc822."""
    depth = rng.choice((10, 50, 200, 1000))
    out = raw
    for level in range(depth):
        if len(out) > MAX_OUTPUT // 2:
            break
        if level % 2:
            out = b"Content-Type: message/rfc822\r\n\r\n" + out
        else:
            b = f"n{level}".encode()
            out = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                   + out + b"\r\n--" + b + b"--\r\n")
    return b"From: MAILER-DAEMON@example.net\r\nMIME-Version: 1.0\r\n" + out


def huge_header_line(raw: bytes, rng: random.Random) -> bytes:
    size = rng.choice((1000, 10_000, 100_000, 400_000))
    name = rng.choice((b"Subject", b"Message-ID", b"References", b"Content-Type", b"X-Long"))
    filler = rng.choice((b"a", b"<a@b> ", b" ", b"=?utf-8?q?x?= ", b"\t\r\n "))
    line = name + b": " + filler * (size // len(filler)) + b"\r\n"
    return line + raw


def eight_bit_garbage(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw) + 1)
    junk = bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 512)))
    return raw[:at] + junk + raw[at:]


def mix_line_ends(raw: bytes, rng: random.Random) -> bytes:
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    ends = (b"\r\n", b"\n", b"\r", b"\r\r\n")
    return b"".join(line + rng.choice(ends) for line in lines)


def damage_encoding(raw: bytes, rng: random.Random) -> bytes:
    """Declare base64 or quoted-printable over text that is not, or break what is."""
    cte = rng.choice((b"base64", b"quoted-printable", b"x-uuencode", b"8bit"))
    head = _head_end(raw)
    if rng.randrange(2):
        raw = raw[:head] + b"\r\nContent-Transfer-Encoding: " + cte + raw[head:]
    junk = rng.choice((b"====", b"=ZZ", b"=\r\n", b"!!@@##", b"QUJD\r\n=", b"=\n=\n=", b"A" * 77))
    at = rng.randrange(head, len(raw) + 1)
    return raw[:at] + junk * rng.randint(1, 50) + raw[at:]


def rfc2047_junk(raw: bytes, rng: random.Random) -> bytes:
    words = (b"=?utf-8?B?////?=", b"=?x-unknown?Q?abc?=", b"=?utf-8?Q?=FF=FE=00?=",
             b"=?utf-8?B?PGZvcmdlZEBleGFtcGxlLnRlc3Q+?=", b"=?=?utf-8?q?x?=?=", b"=?utf-8*en?b?AAA?=",
             b"=?iso-2022-jp?B?GyRCJCIbKEI?=", b"=?utf-8?q?" + b"=E2=80" * 50 + b"?=")
    name = rng.choice((b"Subject", b"From", b"Message-ID", b"In-Reply-To", b"Content-Type", b"To"))
    field = name + b": " + b" ".join(rng.choice(words) for _ in range(rng.randint(1, 20))) + b"\r\n"
    return field + raw


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    byte_flips, truncate, duplicate_header, damage_boundary, deep_nesting, huge_header_line,
    eight_bit_garbage, mix_line_ends, damage_encoding, rfc2047_junk,
)


def mutate(raw: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations in a row; the result and their names."""
    names = []
    for _ in range(rng.randint(1, 3)):
        mutation = rng.choice(MUTATIONS)
        raw = mutation(raw, rng)[:MAX_OUTPUT]
        names.append(mutation.__name__)
    return raw, names
