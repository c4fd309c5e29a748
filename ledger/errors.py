"""The ledger's one error, apart from any Redis client code (so pure modules can name it)."""

from __future__ import annotations


class LedgerUnavailable(Exception):
    """Redis could not be reached, answered with an error, or did not confirm a write."""
