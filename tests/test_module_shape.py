"""Rooms with one job each (issue 9 §5): what a module imports is part of its contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after importing ``module``."""
    out = subprocess.run([sys.executable, "-c", f"import sys, {module}; print(' '.join(sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    return set(out.split())


def test_decide_is_pure_and_imports_no_redis() -> None:
    # Before: decide imported Match from ledger.store, and with it redis-py and the client code.
    loaded = imported_by("ledger.decide")
    assert not {m for m in loaded if m == "redis" or m.startswith("redis.")}
    assert "ledger.store" not in loaded and "ledger.redis_client" not in loaded


def test_store_no_longer_re_exports_the_connection_code() -> None:
    import ledger.store

    assert not hasattr(ledger.store, "connect") and not hasattr(ledger.store, "client_for")
    assert not hasattr(ledger.store, "REDIS_SETTINGS")


def test_day_arithmetic_lives_in_days() -> None:
    from ledger.days import date_of, day_key, end_of, today, window

    assert date_of(0) == "1970-01-01" and day_key("sl:{0a}:m", 20000) == "sl:{0a}:m:20000"
    assert end_of(20000, 30) == 20031 * 86400
    assert window(20000, 2) == [20001, 20000, 19999, 19998]
    assert today(86400 * 3 + 5) == 3
