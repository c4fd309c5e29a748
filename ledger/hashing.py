"""Keyed hashing of ledger entries.

An entry is the pair (normalised Message-ID, normalised sender address), so a
forger who quotes one of our public Message-IDs still cannot bounce it to any
address but the one that sent it. The site secret is mixed into every hash so
the hashes mean nothing without it. xxh3-128 gives 128 bits: the top
``bucket_bits`` choose the Redis bucket, the low 64 bits are the stored field,
so a false match needs 64+k bits to collide.
"""

from __future__ import annotations

from dataclasses import dataclass

import xxhash

MESSAGE = b"m"  # entry kind: a sent message bound to one of its sender addresses
PAIR = b"p"  # entry kind: (sender, recipient) pair of a sent message


@dataclass(frozen=True, order=True)
class EntryHash:
    """Where an entry lives: bucket number and the 8-byte field within it."""

    bucket: int
    field: bytes

    def hex(self) -> str:
        return f"{self.bucket:x}:{self.field.hex()}"


class Hasher:
    """Turns (ID, address) pairs into :class:`EntryHash` values under one secret."""

    def __init__(self, secret: bytes, bucket_bits: int) -> None:
        if not secret:
            raise ValueError("a site secret is required")
        self._prefix = b"sender-ledger\x00" + secret + b"\x00"
        self._shift = 128 - bucket_bits
        self.bucket_bits = bucket_bits

    def _entry(self, kind: bytes, first: str, second: str) -> EntryHash:
        data = self._prefix + kind + b"\x00" + first.encode("utf-8", "surrogateescape")
        data += b"\x00" + second.encode("utf-8", "surrogateescape")
        value = xxhash.xxh3_128_intdigest(data)
        bucket = value >> self._shift if self.bucket_bits else 0
        return EntryHash(bucket, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"))

    def message(self, message_id: str, sender: str) -> EntryHash:
        """Entry for a sent message (normalised ID) bound to a sender address."""
        return self._entry(MESSAGE, message_id, sender)

    def pair(self, sender: str, recipient: str) -> EntryHash:
        """Entry for 'sender wrote to recipient' (for bounces without a reference)."""
        return self._entry(PAIR, sender, recipient)
